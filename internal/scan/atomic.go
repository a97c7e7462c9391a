package scan

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrLocked means another process holds the git lock file next to a file
// being rewritten.
var ErrLocked = errors.New("the file is locked by another process")

// writeFileAtomic replaces path with data: a temporary file in the same
// directory gets the old mode, the data and an fsync, then is renamed over
// path, so readers see the old contents or the new, never a torn write.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".hfbroker-*")
	if err != nil {
		return fmt.Errorf("create temporary file beside %s: %w", path, err)
	}
	return finishAndRename(f, path, data, perm)
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
	return finishAndRename(f, path, data, perm)
}

func finishAndRename(f *os.File, path string, data []byte, perm fs.FileMode) (err error) {
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// Chmod on the descriptor is not subject to the umask, so the new file
	// ends up exactly as permissive as the old one.
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("set mode of %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// syncDir makes a rename or unlink durable. It is best effort: some systems
// (Windows, some network filesystems) cannot sync a directory, and the
// change has already happened.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	d.Close()
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
