package osproc

import (
	"fmt"
	"sync"
)

// Peer is the process at the other end of one of the daemon's connections,
// pinned when the connection was accepted: the pid SO_PEERCRED recorded at
// connect(2) and, on Linux 6.5+, a pidfd of that very process
// (SO_PEERPIDFD). The daemon makes one per connection, so that a client
// that keeps its connection (a notebook kernel, a job renewing its lease,
// loadgen's clients) has its process read from /proc once, not per call,
// and so that the pid, which outlives its process and may be handed to
// another, is never taken for another process's: the connection may be
// inherited by a child that keeps calling after the process that connected
// has exited and its pid has been reused.
//
// It is the broker's CallerProcess. Its methods are safe for concurrent use.
type Peer struct {
	pid int

	mu sync.Mutex
	// pidfd is the connecting process's pidfd (SO_PEERPIDFD) until Close;
	// -1 when there is none (an older kernel, another system).
	pidfd int
	read  bool // start, exe and cwd hold what Info read
	gone  bool // the process that connected has exited (the pidfd said so)
	start uint64
	exe   string
	cwd   string
}

// NewPeer returns the Peer of a connection from pid; pidfd is its
// SO_PEERPIDFD (PeerPidfd), or -1. The Peer owns pidfd from now on.
func NewPeer(pid, pidfd int) *Peer { return &Peer{pid: pid, pidfd: pidfd} }

// PID is the connecting process's pid as SO_PEERCRED recorded it.
func (p *Peer) PID() int { return p.pid }

// Info returns the start time, executable and working directory of the
// process that connected, read from /proc at the first call and remembered
// for the connection's life; an error once that process is known to have
// exited.
//
// Exe and cwd are read once too, not at every call. They can change: exe
// when the process execve()s with the connection still open (Go's and
// Python's sockets are close-on-exec, so a new image that calls the daemon
// nearly always dials again), cwd at any chdir. They go to the audit log to
// say who asked, and a process of the daemon's own uid can make both say
// anything it likes before it calls, so they are the process's word, not
// evidence; reading them again at every call would cost two readlink(2) of
// /proc per call for that. Before connections remembered them, the broker
// kept them per process for as long as a pidfd watched it, just as
// staleness-prone. 'hfbroker leases' still reads each lease's exe afresh.
func (p *Peer) Info() (start uint64, exePath, dir string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gone {
		return 0, "", "", p.exitedErr()
	}
	if !p.read {
		if err := p.readLocked(); err != nil {
			return 0, "", "", err
		}
	}
	return p.start, p.exe, p.cwd, nil
}

// readLocked reads the process from /proc, the first time.
func (p *Peer) readLocked() error {
	st, err := startTime(p.pid)
	if err != nil {
		return err
	}
	e, c := exe(p.pid), cwd(p.pid)
	// With a pidfd the reading is the connecting process's only if that
	// process still ran after it: the pid cannot have been reused while it
	// did. Without one, the pid is trusted from connect(2) to this first
	// read, as it was before SO_PEERPIDFD (Linux 6.5).
	if p.pidfd >= 0 && pidfdExited(p.pidfd) {
		p.gone = true
		return p.exitedErr()
	}
	p.start, p.exe, p.cwd, p.read = st, e, c, true
	return nil
}

// Alive reports whether the process that connected still runs, as of now.
// The broker asks it when it starts watching the process (its first lease,
// or a lease after its watch ended) and for a lease no watch covers (git's).
// With a pidfd it is one poll(2); without one, the pid's start time is read
// again and compared with Info's (the first time, it is Info's read).
func (p *Peer) Alive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gone {
		return false
	}
	if !p.read {
		return p.readLocked() == nil
	}
	if p.pidfd >= 0 {
		if pidfdExited(p.pidfd) {
			p.gone = true
			return false
		}
		return true
	}
	st, err := startTime(p.pid)
	return err == nil && st == p.start
}

// Close releases the pidfd; the connection calls it when it closes. A call
// still running after that (gRPC may close a connection under a handler)
// finds the Peer as if it had had no pidfd.
func (p *Peer) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pidfd >= 0 {
		closePidfd(p.pidfd)
		p.pidfd = -1
	}
}

func (p *Peer) exitedErr() error { return fmt.Errorf("process %d has exited", p.pid) }
