package broker

import (
	"sync"

	"golang.org/x/sys/unix"
)

// pidWatcher learns of process exits from the kernel: a pidfd per watched
// process (Linux 5.3+), all in one epoll set, so a lease ends as soon as its
// process does, with one goroutine however many leases there are. A pidfd
// also pins the process identity: a recycled pid is a different pidfd.
type pidWatcher struct {
	epfd int
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
	return &pidWatcher{epfd: epfd, fds: map[int]int{}, pids: map[int]int{}}
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

// wait blocks up to timeoutMs and returns the pids that exited.
func (w *pidWatcher) wait(timeoutMs int) []int {
	var evs [64]unix.EpollEvent
	n, err := unix.EpollWait(w.epfd, evs[:], timeoutMs)
	if err != nil || n <= 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []int
	for _, ev := range evs[:n] {
		fd := int(ev.Fd)
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

func (w *pidWatcher) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for fd := range w.pids {
		unix.Close(fd)
	}
	clear(w.pids)
	clear(w.fds)
	unix.Close(w.epfd)
}
