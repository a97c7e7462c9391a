//go:build unix

package keystore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// openVault opens the vault for reading without following a symbolic link
// (O_NOFOLLOW) and without blocking on a FIFO (O_NONBLOCK), then checks, on
// the open file, that it is a regular file owned by this user. Checking the
// descriptor, not the path, leaves no window to swap the file in between.
func openVault(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
		}
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EMLINK) {
			return nil, unsafeVault(path, fs.ModeSymlink)
		}
		return nil, fmt.Errorf("open vault: %w", &fs.PathError{Op: "open", Path: path, Err: err})
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("open vault: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		mode := fs.ModeIrregular
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			mode = fs.ModeDir
		}
		return nil, unsafeVault(path, mode)
	}
	if uid := os.Geteuid(); int(st.Uid) != uid {
		unix.Close(fd)
		return nil, fmt.Errorf("%w: %s belongs to uid %d, not to you (uid %d)", ErrUnsafeVault, path, st.Uid, uid)
	}
	return os.NewFile(uintptr(fd), path), nil
}
