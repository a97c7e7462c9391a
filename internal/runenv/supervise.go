package runenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"time"
)

// Defaults for SuperviseOptions.
const (
	DefaultKillGrace = 10 * time.Second
	DefaultWaitDelay = 2 * time.Second
)

// SuperviseOptions describe a child run by Supervise.
type SuperviseOptions struct {
	Path string   // resolved executable (see Resolve)
	Args []string // full argv, argv[0] included; empty means {Path}
	Env  []string // complete environment (see Build); nil means empty, never hfbroker's own

	// Standard streams, as in os/exec: nil Stdin reads /dev/null and nil
	// Stdout/Stderr discard. An *os.File is passed to the child as is (it
	// keeps its terminal) unless Mask is set, which puts a pipe in between.
	Stdin          io.Reader
	Stdout, Stderr io.Writer

	// Mask lists strings (the token) replaced by Replacement in the child's
	// stdout and stderr, even when written a byte at a time. The price, as
	// with `op run`, is that the child's stdout and stderr are pipes, not the
	// terminal: no colour, line-buffered tools turn block-buffered. (One
	// pipe for both when Stdout and Stderr are one file, to keep their
	// order.)
	Mask        []string
	Replacement string // "" means DefaultReplacement

	// KillGrace is how long the child has to exit after a second SIGTERM to
	// hfbroker, or after ctx is done, before it is killed. 0 means
	// DefaultKillGrace.
	KillGrace time.Duration
	// WaitDelay bounds how long output is relayed after the child exits, for
	// a background grandchild that keeps the pipes open. 0 means
	// DefaultWaitDelay.
	WaitDelay time.Duration

	// OnSignal, when set, is told of every signal hfbroker received while the
	// child ran and whether it was passed on; for --debug logging and tests.
	OnSignal func(sig os.Signal, forwarded bool)
	// OnKilled, when set, is told the signal that killed the child, when a
	// signal did (the exit code is then 128+N): a caller about to exit can
	// die of it too (Reraise), as exec without --mask would have.
	OnKilled func(sig os.Signal)
}

// Supervise runs a command as hfbroker's child and waits for it. It is the
// fallback where Exec cannot be used: on Windows, and when hfbroker has work
// left after the child (masking its output, ending the lease at once).
//
// The child stays in hfbroker's process group, so a terminal's Ctrl-C, Ctrl-\
// and Ctrl-Z reach it directly. Signals that arrive by kill are passed on:
// SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 always; SIGINT and SIGQUIT only when
// hfbroker is not in its terminal's foreground process group, because there
// the terminal already delivered them to the child and passing them on would
// deliver them twice (DopplerHQ/cli#142). The cost: a `kill -INT` aimed at a
// foreground hfbroker reaches only hfbroker, which ignores it; use SIGTERM.
// SIGURG, which the Go runtime sends itself for preemption, is never passed
// on (hashicorp/consul-template#1487). A second SIGTERM, or ctx being done,
// gives the child KillGrace before SIGKILL. SIGHUP and SIGINT ignored since
// hfbroker started (nohup, a script's background job) stay ignored, for
// hfbroker and the child alike, as through Exec.
//
// The exit code is the child's, or 128+N when signal N killed it (ExitCode()
// is -1 there, so the wait status is read instead). A command that cannot be
// started gives a *CommandError and its code, 126 or 127. A non-nil error
// with a child's code means the child ran but its output could not all be
// relayed.
func Supervise(ctx context.Context, opts SuperviseOptions) (exitCode int, err error) {
	argv := opts.Args
	if len(argv) == 0 {
		argv = []string{opts.Path}
	}
	env := opts.Env
	if env == nil {
		env = []string{} // exec.Cmd would otherwise inherit hfbroker's env
	}
	repl := opts.Replacement
	if repl == "" {
		repl = DefaultReplacement
	}
	cmd := &exec.Cmd{Path: opts.Path, Args: argv, Env: env, Stdin: opts.Stdin}
	cmd.WaitDelay = opts.WaitDelay
	if cmd.WaitDelay <= 0 {
		cmd.WaitDelay = DefaultWaitDelay
	}
	killGrace := opts.KillGrace
	if killGrace <= 0 {
		killGrace = DefaultKillGrace
	}

	var masks []*MaskWriter
	wrap := func(w io.Writer) io.Writer {
		if w == nil || len(opts.Mask) == 0 {
			return w
		}
		m := NewMaskWriter(w, opts.Mask, repl)
		masks = append(masks, m)
		return m
	}
	cmd.Stdout = wrap(opts.Stdout)
	if sameWriter(opts.Stdout, opts.Stderr) || len(opts.Mask) > 0 && sameFile(opts.Stdout, opts.Stderr) {
		// One filter for both keeps their interleaving and lets os/exec use
		// one pipe, so the underlying writer sees one writer at a time.
		// Two files open on one file (2>&1, one terminal) are one writer
		// too: through two pipes, relayed apart, `2>&1 | tee log` showed
		// the child's errors out of place, even before its output.
		cmd.Stderr = cmd.Stdout
	} else {
		cmd.Stderr = wrap(opts.Stderr)
	}

	// Catch before starting: a signal between Start and Notify would
	// otherwise kill hfbroker with its default action and orphan the child.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, caught()...)
	defer signal.Stop(sigs)

	if err := cmd.Start(); err != nil {
		ce := commandError(argv[0], err)
		return ce.Code, ce
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var (
		ctxDone  = ctx.Done()
		killC    <-chan time.Time
		killer   *time.Timer
		terms    int
		waitErr  error
		finished bool
	)
	armKill := func() {
		if killer == nil {
			killer = time.NewTimer(killGrace)
			killC = killer.C
		}
	}
	for !finished {
		select {
		case sig := <-sigs:
			fwd := shouldForward(sig)
			if fwd {
				_ = cmd.Process.Signal(sig) // ErrProcessDone: it just exited
			}
			if opts.OnSignal != nil {
				opts.OnSignal(sig, fwd)
			}
			if isTerminate(sig) {
				if terms++; terms >= 2 {
					armKill()
				}
			}
		case <-ctxDone:
			ctxDone = nil
			_ = terminate(cmd.Process)
			armKill()
		case <-killC:
			killC = nil
			_ = cmd.Process.Kill()
		case waitErr = <-done:
			finished = true
		}
	}
	if killer != nil {
		killer.Stop()
	}

	var flushErr error
	for _, m := range masks {
		flushErr = errors.Join(flushErr, m.Close())
	}
	ps := cmd.ProcessState
	if ps == nil {
		return -1, fmt.Errorf("wait for %s: %w", quoteName(argv[0]), waitErr)
	}
	code := exitStatus(ps)
	if sig, ok := killedBy(ps); ok && opts.OnKilled != nil {
		opts.OnKilled(sig)
	}
	var ee *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &ee) && !errors.Is(waitErr, exec.ErrWaitDelay) {
		return code, fmt.Errorf("relay output of %s: %w", quoteName(argv[0]), waitErr)
	}
	if flushErr != nil {
		return code, fmt.Errorf("relay output of %s: %w", quoteName(argv[0]), flushErr)
	}
	return code, nil
}

// sameFile reports whether a and b are open files on one file: a pipe, a
// terminal, or a file.
func sameFile(a, b io.Writer) bool {
	fa, ok := a.(*os.File)
	if !ok {
		return false
	}
	fb, ok := b.(*os.File)
	if !ok {
		return false
	}
	sa, err := fa.Stat()
	if err != nil {
		return false
	}
	sb, err := fb.Stat()
	return err == nil && os.SameFile(sa, sb)
}

// sameWriter reports a == b without panicking on incomparable types, as
// os/exec's own check does.
func sameWriter(a, b io.Writer) (same bool) {
	if a == nil || b == nil {
		return false
	}
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}
