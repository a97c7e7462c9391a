package daemon

import "golang.org/x/sys/unix"

// openPidfd opens a non-blocking pidfd for pid (Linux 5.3+).
func openPidfd(pid int) (int, error) { return unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK) }
