//go:build !windows

package daemon

import (
	"io/fs"
	"os"
	"syscall"
)

// openStateFile opens the lease state without following a symbolic link,
// and without blocking on a FIFO put in its place.
func openStateFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}

// fileOwner returns the uid that owns fi.
func fileOwner(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

// statePermsMeaningful: Unix permission bits say who may read the file.
const statePermsMeaningful = true
