//go:build !linux

package daemon

import (
	"errors"
	"io/fs"
	"os"
)

// statPath is the path statKeyOf stats.
type statPath string

func newStatPath(path string) statPath { return statPath(path) }

// statKeyOf stats p (following a symlink). ok is false for an error other
// than the file not existing.
func statKeyOf(p statPath) (statKey, bool) {
	fi, err := os.Stat(string(p))
	if errors.Is(err, fs.ErrNotExist) {
		return statKey{}, true
	}
	if err != nil {
		return statKey{}, false
	}
	return fileKey(fi), true
}

// fileKey is the key of what os.Stat returned: os.SameFile's identity
// stands in for device and inode.
func fileKey(fi fs.FileInfo) statKey {
	if fi == nil {
		return statKey{}
	}
	return statKey{exists: true, size: fi.Size(), mtime: fi.ModTime().UnixNano(), fi: fi}
}
