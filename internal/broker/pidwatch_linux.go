package broker

import (
	"sync"

	"golang.org/x/sys/unix"
)

// pidWatcher learns of process exits from the kernel: a pidfd per watched
// process (Linux 5.3+), all in one epoll set, so a lease ends as soon as its
// process does, with one goroutine however many leases there are. A pidfd
// also pins the process identity: a recycled pid is a different pidfd.
//
// wait blocks without a timeout, so an idle daemon is not woken: interrupt
// (an eventfd in the same epoll set) is how the reaper is told to stop.
type pidWatcher struct {
	epfd int
	evfd int // interrupt's eventfd; readable once interrupt was called
	mu   sync.Mutex
	fds  map[int]int // pid -> pidfd
	pids map[int]int // pidfd -> pid
}

func newPidWatcher() *pidWatcher {
	// Probe: kernels without pidfd_open (before 5.3) fall back to polling.
	fd, err := unix.PidfdOpen(unix.Getpid(), 0)
	if err != nil {
		return nil
	}
	unix.Close(fd)
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(evfd)
		unix.Close(epfd)
		return nil
	}
	return &pidWatcher{epfd: epfd, evfd: evfd, fds: map[int]int{}, pids: map[int]int{}}
}

// add watches pid; it is a no-op when pid is already watched.
func (w *pidWatcher) add(pid int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.fds[pid]; ok {
		return true
	}
	fd, err := unix.PidfdOpen(pid, 0)
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

// watching reports whether pid is watched through a pidfd.
func (w *pidWatcher) watching(pid int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.fds[pid]
	return ok
}

// wait blocks until a watched process exits or interrupt is called, and
// returns the pids that exited (none when interrupted).
func (w *pidWatcher) wait() []int {
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
		unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, fd, nil)
		unix.Close(fd)
		delete(w.pids, fd)
		delete(w.fds, pid)
		out = append(out, pid)
	}
	return out
}

// interrupt makes wait return now and from now on, so that its caller can
// see that it should stop.
func (w *pidWatcher) interrupt() {
	one := [8]byte{1} // any non-zero count
	unix.Write(w.evfd, one[:])
}

func (w *pidWatcher) close() {
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
