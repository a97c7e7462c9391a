package scan

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/hfbroker/hfbroker/internal/atomicfile"
)

// ErrLocked means another process holds the git lock file next to a file
// being rewritten.
var ErrLocked = errors.New("the file is locked by another process")

// writeFileAtomic replaces path with data, atomically.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	return atomicfile.WriteFile(path, data, perm)
}

// writeFileLocked replaces path the way git's lockfile API does: it creates
// path.lock exclusively, writes and syncs it, then renames it over path. A
// concurrent git credential-store, which takes the same lock, is therefore
// never overwritten, and the rewrite is atomic.
func writeFileLocked(path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path+".lock", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("rewrite %s: %w (%s.lock exists)", path, ErrLocked, path)
	}
	if err != nil {
		return fmt.Errorf("lock %s: %w", path, err)
	}
	return atomicfile.Replace(f, path, data, perm)
}

// regularFile returns path's mode, refusing symlinks and special files: the
// rewrite would replace a link with a file, or block on a FIFO.
func regularFile(path string) (fs.FileMode, error) {
	info, err := os.Lstat(path)
	if err != nil {
		return 0, err
	}
	if !info.Mode().IsRegular() {
		return 0, fmt.Errorf("%s: %w", path, ErrNotRegular)
	}
	return info.Mode().Perm(), nil
}

// ErrNotRegular means a path is a symlink, directory or special file where a
// regular file was expected.
var ErrNotRegular = errors.New("not a regular file")
