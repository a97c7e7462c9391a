package osproc

import "golang.org/x/sys/unix"

// PeerPidfd returns a pidfd of the process that connected the unix socket
// connFD (SO_PEERPIDFD, Linux 6.5+): race-free, unlike pidfd_open of the
// SO_PEERCRED pid, which another process may hold by now. It is
// close-on-exec; the caller closes it (NewPeer takes it over).
func PeerPidfd(connFD int) (int, error) {
	return unix.GetsockoptInt(connFD, unix.SOL_SOCKET, unix.SO_PEERPIDFD)
}

// pidfdExited reports whether the pidfd's process has exited: a pidfd is
// readable from then on.
func pidfdExited(fd int) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 0)
		if err == unix.EINTR {
			continue
		}
		return err == nil && n > 0
	}
}

func closePidfd(fd int) { unix.Close(fd) }
