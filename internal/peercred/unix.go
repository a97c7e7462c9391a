//go:build linux || darwin

package peercred

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// checkUnix makes sure fd is a unix domain socket before its peer options
// are read: on darwin SOL_LOCAL is 0, the same level number as IPPROTO_IP, so
// asking a TCP socket for LOCAL_PEERCRED would not reliably fail.
func checkUnix(fd int) error {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotUnix, err)
	}
	if _, ok := sa.(*unix.SockaddrUnix); !ok {
		return fmt.Errorf("%w: the socket is %T", ErrNotUnix, sa)
	}
	return nil
}
