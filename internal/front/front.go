//go:build unix

// Package front is the hfbroker command's front end (issue 16): a small
// program that answers the hot commands, `hfbroker token`, git's credential
// helper and `hfbroker exec`, itself, and executes the full CLI
// (hfbroker-cli, internal/cli) for everything else.
//
// Go initialises every package a binary links before main runs, whichever
// command runs: the full CLI's cobra, protobuf runtime and toml cost it
// 2.2–2.6x an empty Go program's start-up before it does anything
// (docs/benchmarks-analysis.md, round 3). The front links none of them
// (cmd/hfbroker/deps_test.go keeps it so), and on Linux not even os: os's
// initialisation, and fmt, net/url and crypto/sha256, which each pull it
// in, cost the front as much again as all its work (round 7). So it reads
// what it needs with syscall, and where another package owns a rule (xdg's
// paths, socket's, hubapi's endpoints and repo names, gitcred's requests,
// runenv's commands) it keeps a copy that says only yes or no, never an
// error text: a form it does not recognise is the full CLI's. Its tests
// hold each copy to its owner (fuzz tests for the parsers).
//
// The front handles a command only when it understands every argument and
// the daemon answers OK. In every other case it executes the full CLI with
// the same argv, environment and stdin, before it has changed anything: any
// other command, --help, a flag it does not know, a config.toml the full CLI
// has not recorded for it as it is now (internal/frontconfig), a value the
// full CLI would refuse or the front does not recognise, no daemon listening (the full CLI starts
// one), a socket served by someone else, or an error reply (handed over with
// the call, so that the full CLI prints the one error text, hint and exit
// code without asking the daemon again). So nothing is
// duplicated here but the happy paths, whose output matches the full CLI's
// byte for byte (cmd/hfbroker's TestFrontMatchesFullCLI).
package front

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"syscall"

	"github.com/hfbroker/hfbroker/internal/frontconfig/frontrecord"
	"github.com/hfbroker/hfbroker/internal/redact"
)

// Main runs the front with the process's argv and returns an exit code when
// it neither succeeded at exec nor handed over to the full CLI.
func Main(argv []string) int {
	f := &frontCall{argv: argv, stdout: fdWriter(1), stderr: fdWriter(2)}
	return f.run()
}

// Run is Main with the process's own argv (Args).
func Run() int {
	argv, err := Args()
	if err != nil {
		emit(fdWriter(2), "hfbroker: error: read the command line: ", oneLine(err.Error()), "\n",
			"hfbroker: hint: mount /proc, or run hfbroker-cli (beside hfbroker or in ../libexec/hfbroker/) instead\n")
		return 1
	}
	return Main(argv)
}

type frontCall struct {
	argv   []string
	stdout io.Writer
	stderr io.Writer
	// stdin holds what the front read from stdin, for the full CLI to read
	// again; nil while stdin is untouched.
	stdin []byte
}

// errFallback means: let the full CLI do it.
var errFallback = errors.New("fall back to the full CLI")

// refused is the daemon's error reply to the front's call: the full CLI,
// which prints it, takes it from the front (internal/lane's Handover)
// instead of making the call again, which logged every refusal twice in
// the audit log and did the refused work twice.
type refused struct {
	// handover is the call's frame as sent, then the reply's as received.
	handover []byte
}

func (*refused) Error() string { return "hfbrokerd refused the call" }

func (f *frontCall) run() int {
	args := commandArgs(f.argv)
	var code int
	err := errFallback
	if len(args) > 0 {
		switch args[0] {
		case "token":
			code, err = f.token(args[1:])
		case "exec":
			code, err = f.exec(args[1:])
		case "git-credential":
			code, err = f.gitCredential(args[1:])
		}
	}
	if err == nil {
		return code
	}
	return f.fallback(err)
}

// commandArgs is cli.Args: invoked as git-credential-hfbroker (git's
// credential.helper=hfbroker), it is the git-credential command.
func commandArgs(argv []string) []string {
	if len(argv) == 0 {
		return nil
	}
	base := argv[0]
	if i := strings.LastIndexByte(base, '/'); i >= 0 {
		base = base[i+1:]
	}
	if base == "git-credential-hfbroker" {
		return append([]string{"git-credential"}, argv[1:]...)
	}
	return argv[1:]
}

// fallback executes the full CLI with the same argv and environment, and
// stdin as it was: what the front read of it is put back in front. When
// the daemon refused the front's call (err is a *refused), the reply goes
// with it.
func (f *frontCall) fallback(err error) int {
	env := withoutHandover(syscall.Environ())
	var r *refused
	if errors.As(err, &r) {
		if fd, err := handOver(r.handover); err == nil {
			env = append(env, envHandover+"="+strconv.Itoa(fd))
		}
	}
	self, err := executable()
	if err != nil {
		return f.fail("find hfbroker's path: " + err.Error())
	}
	full, ok := findFull(self)
	if !ok {
		return f.fail(errFullNotFound)
	}
	if f.stdin != nil {
		if err := replaceStdin(f.stdin); err != nil {
			return f.fail("hand stdin to " + fullName + ": " + err.Error())
		}
	}
	err = syscall.Exec(full, f.argv, env)
	return f.fail("run " + full + ": " + err.Error())
}

// withoutHandover is environ without envHandover: only the front
// names a descriptor to the full CLI, never a variable it inherited.
func withoutHandover(environ []string) []string {
	out := environ[:0]
	for _, kv := range environ {
		if !strings.HasPrefix(kv, envHandover+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// handOver returns a descriptor, 3 or above and inherited across exec,
// from which the full CLI reads b: a pipe that already holds it (b is far
// smaller than any pipe's buffer: lane.MaxHandoverSize).
func handOver(b []byte) (int, error) {
	if len(b) > maxHandover {
		return -1, errFallback
	}
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		return -1, err
	}
	_, err := syscall.Write(p[1], b)
	syscall.Close(p[1])
	if err != nil {
		syscall.Close(p[0])
		return -1, err
	}
	// Never on 0, 1 or 2, which a process started with one of them closed
	// would hand out: the full CLI's stdin, stdout or stderr.
	fd, err := dupAbove2(p[0])
	syscall.Close(p[0])
	return fd, err
}

// maxHandover is lane.MaxHandoverSize.
const maxHandover = 16 << 10

func (f *frontCall) fail(msg string) int {
	emit(f.stderr, "hfbroker: error: ", oneLine(msg), "\n",
		"hfbroker: hint: reinstall hfbroker: "+fullName+" must sit beside hfbroker or in ../libexec/hfbroker/\n")
	return 1
}

// replaceStdin makes fd 0 read b and then end, for the full CLI.
func replaceStdin(b []byte) error {
	var fd int
	if len(b) <= 4096 { // fits any pipe's buffer (PIPE_BUF at least)
		var p [2]int
		if err := syscall.Pipe(p[:]); err != nil {
			return err
		}
		if _, err := syscall.Write(p[1], b); err != nil {
			return err
		}
		syscall.Close(p[1])
		fd = p[0]
	} else {
		var err error
		if fd, err = stdinCopy(b); err != nil {
			return err
		}
	}
	if err := dupTo(fd, 0); err != nil {
		return err
	}
	return syscall.Close(fd)
}

// endpoint resolves the Hub endpoint as the full CLI does (config.Endpoint):
// HF_ENDPOINT, else config.toml's endpoint, else the default. The front
// links no toml: it knows config.toml's endpoint only from the record the
// full CLI made of that very file and content (internal/frontconfig). A
// config.toml without one (new, edited, broken) is the full CLI's to read,
// report and record, as is an endpoint parseEndpoint does not recognise.
func endpoint() (hub, error) {
	configFile, stateDir, ok := configPaths()
	if !ok {
		return hub{}, errFallback
	}
	configured, ok := frontrecord.Lookup(configFile, stateDir+"/"+recordName, syscall.Geteuid())
	if !ok {
		return hub{}, errFallback
	}
	raw := getenv("HF_ENDPOINT")
	if raw == "" {
		raw = configured
	}
	if raw == "" {
		raw = defaultEndpoint
	}
	h, ok := parseEndpoint(raw)
	if !ok {
		return hub{}, errFallback
	}
	return h, nil
}

// oneLine is redact.OneLine.
func oneLine(s string) string { return redact.OneLine(s) }
