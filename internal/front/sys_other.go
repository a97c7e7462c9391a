//go:build unix && !linux

package front

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Elsewhere than Linux the front links os: its start-up is measured, and
// held to the floor, on Linux (docs/BENCHMARKS.md).

// Args is os.Args.
func Args() ([]string, error) { return os.Args, nil }

func executable() (string, error) { return os.Executable() }

func dupTo(fd, to int) error { return syscall.Dup2(fd, to) }

// dupAbove2 is fcntl(fd, F_DUPFD, 3): a copy of fd numbered 3 or above.
func dupAbove2(fd int) (int, error) { return unix.FcntlInt(uintptr(fd), unix.F_DUPFD, 3) }
