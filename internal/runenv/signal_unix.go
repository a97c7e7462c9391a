//go:build !windows

package runenv

import (
	"os"
	"os/signal"
	"syscall"
	"time"
)

// watchedSignals are caught while a child runs. SIGINT and SIGQUIT are caught
// even when not passed on, because their default action would kill hfbroker
// (Go's SIGQUIT also dumps goroutines) and leave the child's output unrelayed.
// SIGURG is deliberately absent.
var watchedSignals = []os.Signal{
	syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2,
	syscall.SIGINT, syscall.SIGQUIT,
}

// shouldForward decides per signal, at arrival, because a job can move
// between foreground and background while it runs (fg, bg).
func shouldForward(sig os.Signal) bool {
	switch sig {
	case syscall.SIGINT, syscall.SIGQUIT:
		return !inForeground()
	case syscall.SIGURG:
		return false
	}
	return true
}

func isTerminate(sig os.Signal) bool { return sig == syscall.SIGTERM }

func terminate(p *os.Process) error { return p.Signal(syscall.SIGTERM) }

// exitStatus is the child's exit code, or 128+N for death by signal N, the
// shell's convention; ProcessState.ExitCode() gives -1 there.
func exitStatus(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// killedBy is the signal that killed the child, if one did.
func killedBy(ps *os.ProcessState) (os.Signal, bool) {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ws.Signal(), true
	}
	return nil, false
}

// ignoredAtStart: SIGHUP and SIGINT ignored by whoever started hfbroker
// (nohup, a script's background job), read at start: a Notify for them
// would clear what signal.Ignored says.
var ignoredAtStart = map[syscall.Signal]bool{
	syscall.SIGHUP: signal.Ignored(syscall.SIGHUP),
	syscall.SIGINT: signal.Ignored(syscall.SIGINT),
}

// caught are the watchedSignals Supervise catches: all but those ignored
// since hfbroker started, which stay ignored, for hfbroker and for the
// child, as they do through Exec. Catching one would hand the child its
// default action back: under nohup, a hangup passed on (or sent to the
// job's group) would kill it.
func caught() []os.Signal {
	out := make([]os.Signal, 0, len(watchedSignals))
	for _, s := range watchedSignals {
		if !ignoredAtStart[s.(syscall.Signal)] {
			out = append(out, s)
		}
	}
	return out
}

// Reraise ends hfbroker by sig, the signal that killed the child it
// supervised, so that its own parent sees what exec without --mask shows:
// a death by that signal, not an exit with 128+N. A shell tells them apart:
// bash and zsh stop a script at a Ctrl-C only when the command they were
// waiting for died of SIGINT, and take an exit 130 for a command that
// handled it, running the script on; systemd counts a service's death by
// SIGTERM as a clean stop and an exit 143 as a failure.
//
// It does so for SIGHUP, SIGINT and SIGTERM, which the Go runtime ends the
// process by once nothing catches them, and SIGKILL; for other signals
// (SIGQUIT would end in a goroutine dump), or one ignored since hfbroker
// started, it returns, and the caller exits 128+N. So it does as the first
// process of a pid namespace (a container's entrypoint), which the kernel
// keeps from dying of its own signals: the runtime would exit 2 instead.
func Reraise(sig os.Signal) {
	s, ok := sig.(syscall.Signal)
	if !ok || syscall.Getpid() == 1 {
		return
	}
	switch s {
	case syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM:
		if ignoredAtStart[s] {
			return
		}
		signal.Reset(s)
	case syscall.SIGKILL:
	default:
		return
	}
	if syscall.Kill(syscall.Getpid(), s) != nil {
		return
	}
	// The runtime ends the process from whichever thread takes the signal;
	// should it not (something ignores it after all), exit as before.
	time.Sleep(time.Second)
}
