//go:build unix && !linux

package front

import (
	"os"
	"syscall"
)

// Elsewhere than Linux the front links os: its start-up is measured, and
// held to the floor, on Linux (docs/BENCHMARKS.md).

// Args is os.Args.
func Args() ([]string, error) { return os.Args, nil }

func executable() (string, error) { return os.Executable() }

func dupTo(fd, to int) error { return syscall.Dup2(fd, to) }
