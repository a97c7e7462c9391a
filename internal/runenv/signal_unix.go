//go:build !windows

package runenv

import (
	"os"
	"syscall"
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
