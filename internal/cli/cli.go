// Package cli implements the hfbroker command: one file per command, each
// built from a Factory that hands out the daemon client, IO streams and
// environment lazily, as gh does.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	rpccode "google.golang.org/genproto/googleapis/rpc/code"

	"github.com/hfbroker/hfbroker/internal/buildinfo"
	"github.com/hfbroker/hfbroker/internal/client"
	"github.com/hfbroker/hfbroker/internal/config"
	"github.com/hfbroker/hfbroker/internal/frontconfig"
	"github.com/hfbroker/hfbroker/internal/lane"
	"github.com/hfbroker/hfbroker/internal/redact"

	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// Exit codes, as ARCHITECTURE.md lists them.
const (
	ExitOK          = 0
	ExitError       = 1
	ExitUsage       = 2
	ExitUnreachable = 3
	ExitDenied      = 4
)

// IOStreams are the command's standard streams.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// InFd is stdin's file descriptor, -1 when stdin is not a file.
	InFd int
	// stdinTTY, when set, overrides the terminal check (tests).
	stdinTTY *bool
}

// IsTerminal reports whether stdin is a terminal.
func (s *IOStreams) IsTerminal() bool {
	if s.stdinTTY != nil {
		return *s.stdinTTY
	}
	return s.InFd >= 0 && term.IsTerminal(s.InFd)
}

// SetStdinTTY makes IsTerminal answer tty, as gh's IOStreams do for tests.
func (s *IOStreams) SetStdinTTY(tty bool) { s.stdinTTY = &tty }

// Factory hands commands their dependencies.
type Factory struct {
	IO  *IOStreams
	Env config.Env
	// Daemon connects to the daemon, starting it if needed.
	Daemon DaemonFunc
	// RunningDaemon connects to a daemon that is already running and never
	// starts one (scan, a pre-commit hook, must not leave one behind).
	RunningDaemon DaemonFunc
	// ReadPassword reads a line from the terminal without echo.
	ReadPassword func(fd int) ([]byte, error)

	// handover is the front end's, when it handed this CLI the daemon's
	// reply to a call this CLI is about to make again (takeHandover).
	handover *lane.Handover
}

// Prompter asks the person at stdin's terminal for secrets.
func (f *Factory) Prompter() Prompter {
	return terminalPrompter{io: f.IO, readPassword: f.ReadPassword}
}

// Config loads config.toml. A file that loads is recorded for the front
// end (internal/frontconfig), which links no toml: while config.toml stays
// that file, the front answers the hot commands with its endpoint itself.
func (f *Factory) Config() (*config.Config, error) {
	paths, err := config.ResolvePaths(f.Env)
	if err != nil {
		return nil, err
	}
	cfg, text, err := config.LoadText(paths.ConfigFile())
	if err != nil || text == nil {
		return cfg, err
	}
	// Best effort: without a record the front hands over, as it would.
	_ = frontconfig.Remember(paths.ConfigFile(), frontconfig.Path(paths), text, cfg.Endpoint)
	return cfg, nil
}

// Endpoint resolves the Hub endpoint: HF_ENDPOINT, config, default.
func (f *Factory) Endpoint() (string, error) {
	cfg, err := f.Config()
	if err != nil {
		return "", err
	}
	return config.Endpoint(f.Env, cfg)
}

// NewFactory returns the real dependencies.
func NewFactory(stdin io.Reader, stdout, stderr io.Writer) *Factory {
	fd := -1
	if fdr, ok := stdin.(interface{ Fd() uintptr }); ok {
		fd = int(fdr.Fd())
	}
	f := &Factory{
		IO:           &IOStreams{In: stdin, Out: stdout, ErrOut: stderr, InFd: fd},
		Env:          os.Getenv,
		ReadPassword: term.ReadPassword,
	}
	f.Daemon = func(ctx context.Context) (Daemon, error) {
		return dialDaemon(ctx, client.Options{Env: f.Env, Handover: f.handover})
	}
	f.RunningDaemon = func(ctx context.Context) (Daemon, error) {
		return dialDaemon(ctx, client.Options{Env: f.Env, NoAutostart: true, Handover: f.handover})
	}
	return f
}

// Main runs hfbroker with args and returns its exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if err := buildinfo.CheckPlatform(hostOS); err != nil {
		fmt.Fprintf(stderr, "hfbroker: error: %s\n", err)
		return ExitError
	}
	f := NewFactory(stdin, stdout, stderr)
	f.handover = takeHandover()
	return Run(f, args)
}

// hostOS is runtime.GOOS; tests play another system.
var hostOS = runtime.GOOS

// Run runs hfbroker with a given factory.
func Run(f *Factory, args []string) int {
	root := newRootCmdFor(f, args)
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	cmd, err := execute(root, args)
	if err == nil {
		return ExitOK
	}
	return reportError(f.IO.ErrOut, cmd, err)
}

// execute runs the command args name in root's tree. A name the tree does
// not have is cobra's "unknown command" (with its "Did you mean this?"),
// found here first, as cobra would find it, so that it arrives typed.
func execute(root *cobra.Command, args []string) (*cobra.Command, error) {
	if len(args) == 0 || (args[0] != cobra.ShellCompRequestCmd && args[0] != cobra.ShellCompNoDescRequestCmd) {
		// The commands cobra adds itself, as ExecuteC would add them.
		root.InitDefaultHelpCmd()
		root.InitDefaultCompletionCmd(args...)
		if _, _, err := root.Find(args); err != nil {
			// Find fails only on an argument to the root that names
			// no command.
			return root, &UsageError{err}
		}
	}
	root.SetArgs(args)
	return root.ExecuteContextC(context.Background())
}

// NewRootCmd builds the command tree.
func NewRootCmd(f *Factory) *cobra.Command {
	root := newRootOnly(f)
	for _, c := range commands() {
		root.AddCommand(c.build(f))
	}
	root.InitDefaultCompletionCmd()
	typeArgErrors(root)
	return root
}

// newRootCmdFor builds the root with only the command args name, when they
// plainly name one: a command such as `hfbroker token`, which git runs twice
// per operation, then pays for building one command, not all of them (issue
// 16). Anything else builds the whole tree: no command, a flag first, help,
// shell completion, or a name no command has (cobra's "unknown command" and
// its suggestions need every command).
func newRootCmdFor(f *Factory, args []string) *cobra.Command {
	name, ok := commandName(args)
	if !ok {
		return NewRootCmd(f)
	}
	for _, c := range commands() {
		if slices.Contains(c.names, name) {
			root := newRootOnly(f)
			root.AddCommand(c.build(f))
			typeArgErrors(root)
			return root
		}
	}
	return NewRootCmd(f)
}

// commandName returns the command args name when the tree needs nothing but
// that command to run them.
func commandName(args []string) (string, bool) {
	if len(args) == 0 {
		return "", false
	}
	name := args[0]
	switch {
	case name == "" || strings.HasPrefix(name, "-"), name == "help", name == "completion",
		name == cobra.ShellCompRequestCmd, name == cobra.ShellCompNoDescRequestCmd:
		return "", false
	}
	for _, a := range args[1:] {
		if a == "--" {
			break
		}
		if a == "-h" || a == "--help" {
			// Help lists the command's place in the tree.
			return "", false
		}
	}
	return name, true
}

// command is one of hfbroker's top-level commands: the names it answers to
// (its name, then its aliases) and its constructor, so that the root can
// build the one command a command line names and nothing else.
type command struct {
	names []string
	build func(*Factory) *cobra.Command
}

// commands are hfbroker's top-level commands, every one of them, in one
// place. TestCommandListNamesEachCommand keeps names true to the commands.
func commands() []command {
	return []command{
		{[]string{"token"}, func(f *Factory) *cobra.Command { return newCmdToken(f, nil) }},
		{[]string{"git-credential"}, func(f *Factory) *cobra.Command { return newCmdGitCredential(f, nil) }},
		{[]string{"exec"}, func(f *Factory) *cobra.Command { return newCmdExec(f, nil) }},
		{[]string{"login"}, func(f *Factory) *cobra.Command { return newCmdLogin(f, nil) }},
		{[]string{"logout"}, func(f *Factory) *cobra.Command { return newCmdLogout(f, nil) }},
		{[]string{"list", "ls"}, func(f *Factory) *cobra.Command { return newCmdList(f, nil) }},
		{[]string{"switch"}, func(f *Factory) *cobra.Command { return newCmdSwitch(f, nil) }},
		{[]string{"whoami"}, func(f *Factory) *cobra.Command { return newCmdWhoami(f, nil) }},
		{[]string{"status"}, func(f *Factory) *cobra.Command { return newCmdStatus(f, nil) }},
		{[]string{"leases"}, func(f *Factory) *cobra.Command { return newCmdLeases(f, nil) }},
		{[]string{"audit"}, func(f *Factory) *cobra.Command { return newCmdAudit(f, nil) }},
		{[]string{"doctor"}, func(f *Factory) *cobra.Command { return newCmdDoctor(f, nil) }},
		{[]string{"import"}, func(f *Factory) *cobra.Command { return newCmdImport(f, nil) }},
		{[]string{"scan"}, func(f *Factory) *cobra.Command { return newCmdScan(f, nil) }},
		{[]string{"lock"}, func(f *Factory) *cobra.Command { return newCmdLock(f, nil) }},
		{[]string{"unlock"}, func(f *Factory) *cobra.Command { return newCmdUnlock(f, nil) }},
		{[]string{"passwd"}, func(f *Factory) *cobra.Command { return newCmdPasswd(f, nil) }},
		{[]string{"migrate"}, func(f *Factory) *cobra.Command { return newCmdMigrate(f, nil) }},
		{[]string{"config"}, newCmdConfig},
		{[]string{"jupyter"}, newCmdJupyter},
		{[]string{"setup-git"}, func(f *Factory) *cobra.Command { return newCmdSetupGit(f, nil) }},
		{[]string{"ssh"}, func(f *Factory) *cobra.Command { return newCmdSSH(f, nil) }},
		{[]string{"version"}, func(f *Factory) *cobra.Command { return newCmdVersion(f, nil) }},
	}
}

// newRootOnly builds the root command without its subcommands.
func newRootOnly(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:           "hfbroker",
		Short:         "Keep Hugging Face tokens out of plaintext and hand each job the right one",
		Long:          "hfbroker keeps your Hugging Face tokens in the OS keychain, behind a per-user daemon,\nand hands each job the least-privileged token that can do it.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// --version is the version command's short form. It is a plain flag,
	// not cobra's Version field, so that the build info is read only when
	// it is asked for.
	var showVersion bool
	root.Flags().BoolVar(&showVersion, "version", false, "print the version (as 'hfbroker version')")
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		if showVersion {
			return versionRun(&VersionOptions{IO: f.IO})
		}
		return cmd.Help()
	}
	// Usage errors are typed where cobra finds them, so that reportError
	// never reads cobra's English: a flag that does not parse, a required
	// flag missing or two that do not go together, (typeArgErrors) an
	// argument count a command refuses, and (execute) a command name the
	// tree does not have.
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &UsageError{err} })
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		// cobra checks these too, after this hook, untyped.
		if err := cmd.ValidateRequiredFlags(); err != nil {
			return &UsageError{err}
		}
		if err := cmd.ValidateFlagGroups(); err != nil {
			return &UsageError{err}
		}
		return nil
	}
	return root
}

// typeArgErrors makes every command's argument check in the tree under
// root (cobra's own completion command's too) return a UsageError: a
// positional-argument validator only ever judges how a command was called.
func typeArgErrors(root *cobra.Command) {
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if check := c.Args; check != nil {
			c.Args = func(cmd *cobra.Command, args []string) error {
				if err := check(cmd, args); err != nil {
					if _, typed := errors.AsType[*UsageError](err); typed {
						return err
					}
					return &UsageError{err}
				}
				return nil
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// UsageError is a mistake in how a command was called: exit 2, with a hint
// to read the command's --help. cobra's flag, argument and unknown-command
// errors arrive as one (newRootOnly, typeArgErrors, execute); commands
// return one for a mistake of their own.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Hint points to the help of the command that was called wrong, hfbroker's
// own when cmd is nil (a run function reporting an error of its own).
func (e *UsageError) Hint(cmd *cobra.Command) string {
	path := "hfbroker"
	if cmd != nil {
		path = cmd.CommandPath()
	}
	return fmt.Sprintf("run '%s --help' for usage", path)
}

// userError is an error with a hint and an exit code.
type userError struct {
	msg  string
	hint string
	code int
}

func (e *userError) Error() string { return e.msg }

func errorWithHint(code int, hint, format string, args ...any) error {
	return &userError{msg: fmt.Sprintf(format, args...), hint: hint, code: code}
}

// exitCodeError ends the command with a code and no message (exec's child code).
type exitCodeError struct{ code int }

func (e exitCodeError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// reportError prints err as "hfbroker: error: …" plus an optional hint, and
// returns the exit code. cmd is the command that failed (nil: none known),
// for a usage error's hint.
func reportError(w io.Writer, cmd *cobra.Command, err error) int {
	if ec, ok := errors.AsType[exitCodeError](err); ok {
		return ec.code
	}
	code, msg, hint, reasons := ExitError, err.Error(), "", []string(nil)
	if ue, ok := errors.AsType[*userError](err); ok {
		code, hint = ue.code, ue.hint
	} else if ue, ok := errors.AsType[*client.UnreachableError](err); ok {
		code, hint = ExitUnreachable, ue.Hint()
		if hint == "" {
			hint = "start it with 'hfbrokerd', or check 'hfbroker status'"
		}
	} else if st, ok := statusOf(err); ok {
		code, msg, hint, reasons = fromStatus(st)
	} else if he, ok := errors.AsType[interface {
		error
		Hint() string
	}](err); ok {
		hint = he.Hint() // e.g. a config.toml error
	} else if ue, ok := errors.AsType[*UsageError](err); ok {
		code, hint = ExitUsage, ue.Hint(cmd)
	}
	fmt.Fprintf(w, "hfbroker: error: %s\n", oneLine(msg))
	for _, r := range reasons {
		fmt.Fprintf(w, "  %s\n", oneLine(r))
	}
	if hint != "" {
		fmt.Fprintf(w, "hfbroker: hint: %s\n", oneLine(hint))
	}
	return code
}

func fromStatus(st *lane.Error) (code int, msg, hint string, reasons []string) {
	code, msg = ExitError, st.Message
	switch st.Code {
	case rpccode.Code_UNAVAILABLE:
		hint := "start it with 'hfbrokerd', or check 'hfbroker status'"
		if h := st.Detail.GetHint(); h != "" {
			hint = h
		}
		return ExitUnreachable, "hfbrokerd is not answering: " + msg, hint, nil
	case rpccode.Code_PERMISSION_DENIED:
		code = ExitDenied
	case rpccode.Code_DEADLINE_EXCEEDED:
		msg = "hfbrokerd did not answer in time: " + msg
	}
	if d := st.Detail; d != nil {
		hint = d.GetHint()
		if d.GetKind() == pb.ErrorDetail_KIND_LOCKED {
			code = ExitDenied
		}
		for _, r := range d.GetReasons() {
			reasons = append(reasons, r.GetProfile()+": "+r.GetReason())
		}
	}
	return code, msg, hint, reasons
}

// oneLine is redact.OneLine.
func oneLine(s string) string { return redact.OneLine(s) }

// Args returns the command line to run for argv: invoked as
// git-credential-hfbroker (git's credential.helper=hfbroker), it is the
// git-credential command.
func Args(argv []string) []string {
	if len(argv) == 0 {
		return nil
	}
	base := strings.TrimSuffix(filepathBase(argv[0]), ".exe")
	if base == "git-credential-hfbroker" {
		return append([]string{"git-credential"}, argv[1:]...)
	}
	return argv[1:]
}

func filepathBase(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

// statusOf returns the daemon's answer when err is one.
func statusOf(err error) (*lane.Error, bool) {
	st, ok := errors.AsType[*lane.Error](err)
	if !ok || st.Code == rpccode.Code_OK || st.Code == rpccode.Code_UNKNOWN {
		return nil, false
	}
	return st, true
}
