package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hfbroker/hfbroker/internal/client"
	"github.com/hfbroker/hfbroker/internal/config"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// SSHOptions are ssh's inputs.
type SSHOptions struct {
	IO     *IOStreams
	Daemon DaemonFunc
	// Env is the environment (HFBROKER_SSH, where the socket is);
	// Endpoint resolves the Hub endpoint the remote's git goes to.
	Env        config.Env
	Endpoint   func() (string, error)
	AllowWrite bool
	AllowEnv   bool
	Repos      []string
	RemoteDir  string
	ProxyPort  int
	Host       string
	SSHArgs    []string
	Command    []string
}

func newCmdSSH(f *Factory, runF func(*SSHOptions) error) *cobra.Command {
	opts := &SSHOptions{IO: f.IO, Daemon: f.Daemon, Env: f.Env, Endpoint: f.Endpoint}
	cmd := &cobra.Command{
		Use:   "ssh [--allow-write] [--allow-env] [--repo PATTERN]... HOST [SSH ARGS...] [-- REMOTE COMMAND...]",
		Short: "Log in to a machine over ssh and let it use hfbroker's leases, never holding a token",
		Long: `Run the system ssh to HOST, forwarding hfbrokerd's restricted socket (remote.sock)
to a private path there and the Hub proxy's port to its loopback. On HOST,
'hfbroker exec', 'hfbroker exec --proxy' and the git helper then work with no
daemon, keychain or token of their own: HFBROKER_SOCKET points at the forward.
Without --allow-env the session's git goes through the proxy too (set in git's
environment config for the session: GIT_CONFIG_COUNT); hfbroker must be on
HOST's PATH.

What the remote may ask for is limited here:
  by default     read leases through the proxy only (the real token stays here)
  --allow-write  leases that can write
  --allow-env    leases that hand out the real token (plain exec, git, token)
  --repo P       only repos matching P (e.g. acme/llm, acme/*); repeatable
Every lease of the forward ends when the ssh session ends.

With ssh's -N (a pure forward, no remote command) it says where the socket
is on HOST and holds the forward until ssh ends. ssh's -f and -W are refused:
the forward lives with the ssh process, which -f forks away from.`,
		Example: `  hfbroker ssh gpu-box
  hfbroker ssh --allow-write --repo 'acme/*' gpu-box
  hfbroker ssh gpu-box -- hfbroker exec --proxy -- python train.py`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Host = args[0]
			rest := args[1:]
			opts.SSHArgs = rest
			for i, a := range rest {
				if a == "--" {
					opts.SSHArgs, opts.Command = rest[:i], rest[i+1:]
					break
				}
			}
			if runF != nil {
				return runF(opts)
			}
			return sshRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().SetInterspersed(false) // everything after HOST is ssh's
	cmd.Flags().BoolVar(&opts.AllowWrite, "allow-write", false, "let the remote take leases that can write")
	cmd.Flags().BoolVar(&opts.AllowEnv, "allow-env", false, "let the remote take leases that hold the real token")
	cmd.Flags().StringArrayVar(&opts.Repos, "repo", nil, "let the remote ask only for repos matching this pattern (repeatable)")
	cmd.Flags().StringVar(&opts.RemoteDir, "remote-dir", "", "private directory on the remote for the socket (default ${XDG_RUNTIME_DIR:-$HOME/.hfbroker}/forward)")
	cmd.Flags().IntVar(&opts.ProxyPort, "remote-proxy-port", 0, "port on the remote's loopback for the proxy (default: a random one)")
	return cmd
}

func sshRun(ctx context.Context, opts *SSHOptions) error {
	if strings.HasPrefix(opts.Host, "-") {
		return errorWithHint(ExitUsage, "put hfbroker's flags first, then HOST, then ssh's options", "HOST must come before ssh's options (got %q)", opts.Host)
	}
	sshPath := opts.Env("HFBROKER_SSH")
	if sshPath == "" {
		p, err := exec.LookPath("ssh")
		if err != nil {
			return errorWithHint(ExitError, "install OpenSSH's client (apt-get install openssh-client)", "ssh not found on PATH")
		}
		sshPath = p
	}
	remotePort := opts.ProxyPort
	if remotePort == 0 {
		// Below Linux's ephemeral range (32768-60999): a port there may be
		// some outgoing connection's local port, and the bind would fail.
		n, err := rand.Int(rand.Reader, big.NewInt(32768-10000))
		if err != nil {
			return err
		}
		remotePort = 10000 + int(n.Int64())
	}
	if remotePort < 1 || remotePort > 65535 {
		return errorWithHint(ExitUsage, "pass a port between 1 and 65535", "--remote-proxy-port %d is out of range", remotePort)
	}

	flags := parseSSHArgs(opts.SSHArgs)
	flags.fromConfig(ctx, sshPath, opts.SSHArgs, opts.Host)
	if flags.fork {
		return errorWithHint(ExitUsage, "put it in the background yourself: hfbroker ssh "+opts.Host+" -N -n &",
			"ssh's -f is not supported: the forward lives with the ssh process, and -f forks away from it")
	}
	if flags.stdio {
		return errorWithHint(ExitUsage, "to reach a host through another, use ssh's -J: hfbroker ssh HOST -J JUMPHOST",
			"ssh's -W is not supported: a stdio forward carries none of hfbroker's forwards")
	}
	if flags.noCommand && len(opts.Command) > 0 {
		return errorWithHint(ExitUsage, "drop -N to run the command, or the command to hold a forward only",
			"ssh's -N runs no remote command, and one was given after --")
	}

	var id [6]byte
	rand.Read(id[:])
	sockName := "remote-" + hex.EncodeToString(id[:]) + ".sock"
	// 1. A private directory on the remote, and no stale socket where ours goes.
	dir, err := sshPrepare(ctx, sshPath, opts, flags.prepare, sockName)
	if err != nil {
		return err
	}
	remoteSock := dir + "/" + sockName

	// 2. Register this process as the forward: it becomes ssh below, and
	// the daemon ends the forward's leases the moment it exits.
	var reg *pb.RegisterForwardResponse
	if err := withDaemon(ctx, opts.Daemon, func(c Daemon) error {
		if client.Restricted(c.SocketPath(), opts.Env) {
			return errorWithHint(ExitError, "run 'hfbroker ssh' on the machine that holds the tokens",
				"%s is a restricted socket: it cannot be forwarded again", c.SocketPath())
		}
		reg, err = c.RegisterForward(ctx, &pb.RegisterForwardRequest{Host: opts.Host, AllowWrite: opts.AllowWrite,
			AllowEnv: opts.AllowEnv, Repos: opts.Repos, RemoteProxyPort: int32(remotePort)})
		return err
	}); err != nil {
		return err
	}

	// 3. Become ssh.
	argv := []string{"ssh",
		// A connection of our own: a shared master would carry the
		// forwards in another process, which the daemon does not know.
		"-o", "ControlMaster=no", "-o", "ControlPath=none",
		"-o", "ExitOnForwardFailure=yes",
		"-R", remoteSock + ":" + reg.GetRestrictedSocket(),
		"-R", fmt.Sprintf("127.0.0.1:%d:127.0.0.1:%d", remotePort, reg.GetProxyPort()),
	}
	envs := []string{"HFBROKER_SOCKET=" + shellQuote(remoteSock), client.ForwardEnv + "=" + shellQuote(opts.Host)}
	if !opts.AllowEnv {
		// Without the real token git must go through the proxy too.
		endpoint, err := opts.Endpoint()
		if err != nil {
			return err
		}
		envs = append(envs, gitProxyEnv(endpoint, remotePort)...)
	}
	var remote string
	if flags.noCommand {
		// A pure forward (ssh -N): no remote shell to set the variables
		// in, so say where the socket is.
		fmt.Fprintf(opts.IO.ErrOut, "hfbroker: note: forwarding to %s: on %s, HFBROKER_SOCKET=%s reaches this daemon until this ssh ends\n",
			opts.Host, opts.Host, shellQuote(remoteSock))
	} else if len(opts.Command) > 0 {
		q := make([]string, len(opts.Command))
		for i, a := range opts.Command {
			q[i] = shellQuote(a)
		}
		remote = "env " + strings.Join(envs, " ") + " " + strings.Join(q, " ")
	} else {
		argv = append(argv, "-t")
		remote = "env " + strings.Join(envs, " ") + ` sh -c 'exec "${SHELL:-/bin/sh}" -l'`
	}
	argv = append(argv, opts.SSHArgs...)
	argv = append(argv, "--", opts.Host)
	if remote != "" {
		argv = append(argv, remote)
	}
	err = syscall.Exec(sshPath, argv, os.Environ())
	return fmt.Errorf("run %s: %w", sshPath, err)
}

// gitProxyEnv points the remote session's git at the forwarded proxy, for
// this machine's Hub endpoint, with hfbroker's git helper answering lease
// tokens for it (gitcredential.go).
//
// It is git's environment config (GIT_CONFIG_COUNT, git 2.31 and later),
// not the remote's ~/.gitconfig, because the port is the session's own: a
// random one per 'hfbroker ssh', so that two sessions to one host do not
// collide. A global url.<proxy>.insteadOf would outlive the session and
// send every later clone of the Hub to a closed port, or to another
// session's; in the environment it lives and ends with the forward, as
// HFBROKER_SOCKET does. The helper is found on the remote's PATH, where
// hfbroker itself must be for 'hfbroker ssh HOST -- hfbroker …'.
//
// The empty helper first drops helpers inherited for that URL, so a
// 'store' helper neither answers for the proxy nor keeps a lease token.
func gitProxyEnv(endpoint string, port int) []string {
	proxy := fmt.Sprintf("http://127.0.0.1:%d", port)
	kv := [][2]string{
		{"url." + proxy + "/.insteadOf", strings.TrimRight(endpoint, "/") + "/"},
		{"credential." + proxy + ".helper", ""},
		{"credential." + proxy + ".helper", "!hfbroker git-credential"},
		{"credential." + proxy + ".useHttpPath", "true"},
	}
	out := []string{fmt.Sprintf("GIT_CONFIG_COUNT=%d", len(kv))}
	for i, e := range kv {
		out = append(out, fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", i, shellQuote(e[0])), fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", i, shellQuote(e[1])))
	}
	return out
}

// sshPrepare makes the remote's private socket directory (0700) and removes
// a stale socket at our path; it returns the directory.
func sshPrepare(ctx context.Context, sshPath string, opts *SSHOptions, sshArgs []string, sockName string) (string, error) {
	base := `"${XDG_RUNTIME_DIR:-$HOME/.hfbroker}/forward"`
	if opts.RemoteDir != "" {
		base = shellQuote(opts.RemoteDir)
	}
	script := `umask 077; d=` + base + `; mkdir -p "$d" && chmod 700 "$d" && rm -f "$d"/` + sockName + ` && printf '%s\n' "$d"`
	// No forwards of the user's (from the command line or ssh_config):
	// they belong to the session, and a port bound here would still be
	// held, or fail, when the session binds it. No terminal either (-T
	// wins over a RequestTTY in ssh_config): the output is read here.
	argv := append([]string{"-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "ClearAllForwardings=yes", "-T"}, sshArgs...)
	argv = append(argv, "--", opts.Host, script)
	cmd := exec.CommandContext(ctx, sshPath, argv...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		msg := oneLine(errb.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", errorWithHint(ExitError, "check that 'ssh "+opts.Host+"' works on its own", "prepare the socket directory on %s: %s", opts.Host, msg)
	}
	dir := strings.TrimSpace(out.String())
	if i := strings.LastIndexByte(dir, '\n'); i >= 0 {
		dir = dir[i+1:] // a login banner may come first
	}
	if !strings.HasPrefix(dir, "/") {
		return "", errorWithHint(ExitError, "pass --remote-dir /an/absolute/dir", "the remote's socket directory %q is not an absolute path", dir)
	}
	return dir, nil
}

// shellQuote quotes s for a POSIX shell (the remote's sh runs ssh's command).
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:@,+%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// fromConfig adds what ssh_config says for host about the session (ssh
// -G prints the configuration the session will have, and connects
// nowhere): a Host block's "SessionType none" or "ForkAfterAuthentication
// yes" acts as -N or -f do. Where ssh knows those keywords, the preparing
// call overrides them (on the command line, the first value wins); an
// older ssh, or one whose -G fails, leaves the command line's options alone.
func (f *sshFlags) fromConfig(ctx context.Context, sshPath string, args []string, host string) {
	cmd := exec.CommandContext(ctx, sshPath, append(append([]string{"-G"}, args...), "--", host)...)
	out, err := cmd.Output()
	if err != nil {
		return
	}
	var override []string
	for _, line := range strings.Split(string(out), "\n") {
		key, val, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch key {
		case "sessiontype":
			f.noCommand = f.noCommand || val == "none"
			override = append(override, "-o", "SessionType=default")
		case "forkafterauthentication":
			f.fork = f.fork || val == "yes"
			override = append(override, "-o", "ForkAfterAuthentication=no")
		}
	}
	f.prepare = append(override, f.prepare...)
}

// sshFlags is what hfbroker ssh must know of the user's ssh options.
type sshFlags struct {
	// prepare is the options for the short call that prepares the
	// socket directory: all but those about the session (-N, -f, -t, -T,
	// -W and their -o forms), which would make it run no command and
	// wait forever (-N, -W), linger in the background (-f) or ask for a
	// terminal it does not need. -p, -i, -J, -l, -F, -o and the rest stay.
	prepare []string
	// noCommand: -N (or -o SessionType=none), a pure forward.
	noCommand bool
	// fork: -f (or -o ForkAfterAuthentication=yes).
	fork bool
	// stdio: -W host:port.
	stdio bool
}

// ssh(1)'s options that take an argument; every other letter is a flag.
const sshArgOptions = "BbcDEeFIiJLlmOoPpQRSWw"

// parseSSHArgs reads ssh's options as ssh's getopt does: flags may be
// grouped (-fNT), an option's argument may be attached (-p2222, -oKey=v)
// or the next word, and the first word that is no option ends them (it
// and what follows pass through unchanged).
func parseSSHArgs(args []string) sshFlags {
	var f sshFlags
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) < 2 || a[0] != '-' || a == "--" {
			f.prepare = append(f.prepare, args[i:]...)
			break
		}
		for j := 1; j < len(a); j++ {
			c := a[j]
			if strings.IndexByte(sshArgOptions, c) < 0 {
				switch c {
				case 'N':
					f.noCommand = true
				case 'f':
					f.fork = true
				case 't', 'T':
				default:
					f.prepare = append(f.prepare, "-"+string(c))
				}
				continue
			}
			val, hasVal := a[j+1:], j+1 < len(a)
			if !hasVal && i+1 < len(args) {
				i++
				val, hasVal = args[i], true
			}
			keep := true
			switch c {
			case 'W':
				f.stdio, keep = true, false
			case 'o':
				keep = f.sessionOption(val)
			}
			if keep {
				f.prepare = append(f.prepare, "-"+string(c))
				if hasVal {
					f.prepare = append(f.prepare, val)
				}
			}
			break
		}
	}
	return f
}

// sessionOption notes an -o option about the session (ssh_config(5)) and
// says whether the preparing call keeps it.
func (f *sshFlags) sessionOption(kv string) bool {
	kv = strings.TrimSpace(kv)
	i := strings.IndexAny(kv, "= \t")
	if i < 0 {
		return true
	}
	key := strings.ToLower(kv[:i])
	val := strings.ToLower(strings.Trim(strings.TrimSpace(kv[i:]), "= \t\""))
	switch key {
	case "sessiontype":
		f.noCommand = f.noCommand || val == "none"
		return false
	case "forkafterauthentication":
		f.fork = f.fork || val == "yes"
		return false
	case "requesttty":
		return false
	}
	return true
}
