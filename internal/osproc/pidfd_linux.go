package osproc

import "golang.org/x/sys/unix"

// OpenPidfd opens a non-blocking, close-on-exec pidfd for pid (Linux 5.3+).
// It refers to that process and no other: a pid recycled after the process
// exits is a different pidfd. The caller closes it.
func OpenPidfd(pid int) (int, error) { return unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK) }
