package daemon

import (
	"os"

	"golang.org/x/sys/unix"
)

// redirectStderr makes descriptor 2 refer to f.
func redirectStderr(f *os.File) error { return unix.Dup2(int(f.Fd()), 2) }
