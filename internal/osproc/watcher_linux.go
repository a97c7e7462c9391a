package osproc

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// Watcher learns of process exits from the kernel: a pidfd per watched
// process (Linux 5.3+), all in one epoll set, so a lease ends as soon as its
// process does, with one goroutine however many leases there are. A pidfd
// also pins the process identity: a recycled pid is a different pidfd. It is
// the broker's ExitWatcher.
//
// Wait blocks without a timeout, so an idle daemon is not woken: Interrupt
// (an eventfd in the same epoll set) is how the reaper is told to stop.
type Watcher struct {
	epfd int
	evfd int // interrupt's eventfd; readable once interrupt was called
	mu   sync.Mutex
	fds  map[int]int // pid -> pidfd
	pids map[int]int // pidfd -> pid
}

// NewWatcher returns a Watcher, or an error on kernels without pidfd_open
// (before 5.3): their leased processes are polled instead.
func NewWatcher() (*Watcher, error) {
	fd, err := OpenPidfd(unix.Getpid())
	if err != nil {
		return nil, fmt.Errorf("pidfd_open: %w", err)
	}
	unix.Close(fd)
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(evfd)
		unix.Close(epfd)
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	return &Watcher{epfd: epfd, evfd: evfd, fds: map[int]int{}, pids: map[int]int{}}, nil
}

// Add watches pid; it is a no-op when pid is already watched. False: pid
// cannot be watched (it has exited, or no pidfd could be opened).
func (w *Watcher) Add(pid int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.fds[pid]; ok {
		return true
	}
	fd, err := OpenPidfd(pid)
	if err != nil {
		return false
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
	if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		unix.Close(fd)
		return false
	}
	w.fds[pid], w.pids[fd] = fd, pid
	return true
}

// Remove stops watching pid, closing its pidfd; a pid not watched is left
// alone.
func (w *Watcher) Remove(pid int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if fd, ok := w.fds[pid]; ok {
		w.forgetLocked(pid, fd)
	}
}

// forgetLocked stops watching pid through its pidfd fd and closes it. The
// mutex must be held.
func (w *Watcher) forgetLocked(pid, fd int) {
	unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	unix.Close(fd)
	delete(w.fds, pid)
	delete(w.pids, fd)
}

// Watching reports whether pid is watched through a pidfd.
func (w *Watcher) Watching(pid int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.fds[pid]
	return ok
}

// Wait blocks until a watched process exits or Interrupt is called, and
// returns the pids that exited (none when interrupted).
func (w *Watcher) Wait() []int {
	var evs [64]unix.EpollEvent
	n, err := unix.EpollWait(w.epfd, evs[:], -1)
	if err != nil || n <= 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []int
	for _, ev := range evs[:n] {
		fd := int(ev.Fd)
		if fd == w.evfd {
			continue // left readable: every later wait returns at once
		}
		pid, ok := w.pids[fd]
		if !ok {
			continue
		}
		w.forgetLocked(pid, fd)
		out = append(out, pid)
	}
	return out
}

// Interrupt makes Wait return now and from now on, so that its caller can
// see that it should stop.
func (w *Watcher) Interrupt() {
	one := [8]byte{1} // any non-zero count
	unix.Write(w.evfd, one[:])
}

// Close closes every pidfd and the epoll set.
func (w *Watcher) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for fd := range w.pids {
		unix.Close(fd)
	}
	clear(w.pids)
	clear(w.fds)
	unix.Close(w.evfd)
	unix.Close(w.epfd)
}
