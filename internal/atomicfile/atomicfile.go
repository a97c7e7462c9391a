// Package atomicfile replaces files so that a reader, or a crash at any
// moment, sees the old contents or the new, never a torn write.
package atomicfile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// WriteFile replaces path with data and mode perm: a temporary file in the
// same directory (rename is atomic only within a filesystem) gets the data
// and an fsync, then is renamed over path, and the directory is synced so
// the rename is durable. The directory must exist.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary file beside %s: %w", path, err)
	}
	return Replace(f, path, data, perm)
}

// Replace writes data to f, a new file in path's directory, syncs and closes
// it, and renames it over path. On failure f is removed.
func Replace(f *os.File, path string, data []byte, perm fs.FileMode) (err error) {
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// Chmod on the descriptor is not subject to the umask.
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
	SyncDir(filepath.Dir(path))
	return nil
}

// SyncDir makes a rename or unlink in dir durable. It is best effort: some
// systems (Windows, some network filesystems) cannot sync a directory, and
// the change has already happened.
func SyncDir(dir string) {
	if runtime.GOOS == "windows" {
		return
	}
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	d.Close()
}
