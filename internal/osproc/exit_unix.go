//go:build unix

package osproc

import (
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Exit is one process watched until it exits, for a caller that waits on a
// single process (the daemon's ssh forward) rather than on many at once
// (Watcher). On Linux 5.3+ it is a pidfd in the runtime's poller, opened at
// WatchExit, so the process it waits for is the one that had pid then;
// elsewhere, and on older kernels, pid is probed with signal 0 every
// pollInterval, which cannot see pid reuse.
type Exit struct {
	pid int
	f   *os.File        // the pidfd; nil when polling
	rc  syscall.RawConn // f's
}

// pollInterval is how often a process without a pidfd is probed.
const pollInterval = 250 * time.Millisecond

// WatchExit starts watching pid. An error means pid cannot be watched here.
func WatchExit(pid int) (*Exit, error) {
	fd, err := OpenPidfd(pid)
	if err != nil {
		return &Exit{pid: pid}, nil
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Exit{pid: pid, f: f, rc: rc}, nil
}

// Wait blocks until the process has exited (true) or stop is closed
// (false), and releases what WatchExit opened. Call it once.
func (e *Exit) Wait(stop <-chan struct{}) bool {
	if e.f == nil {
		return e.poll(stop)
	}
	waited := make(chan struct{})
	defer close(waited)
	go func() {
		select {
		case <-stop:
		case <-waited:
		}
		e.f.Close() // wakes the Read below with an error
	}()
	rerr := e.rc.Read(func(fd uintptr) bool {
		// A pidfd is readable once its process has exited.
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, _ := unix.Poll(fds, 0)
		return n > 0
	})
	select {
	case <-stop:
		return false
	default:
	}
	return rerr == nil
}

// poll probes the process with signal 0 until it is gone or stop closes.
func (e *Exit) poll(stop <-chan struct{}) bool {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		if unix.Kill(e.pid, 0) == unix.ESRCH {
			return true
		}
		select {
		case <-stop:
			return false
		case <-t.C:
		}
	}
}
