//go:build !windows

package runenv

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

const pathSeparators = "/"

// checkExecutable reports why path cannot be executed, or nil.
func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return &os.PathError{Op: "exec", Path: path, Err: syscall.EISDIR}
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return &os.PathError{Op: "exec", Path: path, Err: fs.ErrPermission}
	}
	// The mode bits may be for someone else; ask the kernel for us.
	if err := syscall.Access(path, 1 /* X_OK */); err != nil {
		return &os.PathError{Op: "exec", Path: path, Err: fs.ErrPermission}
	}
	return nil
}

// searchPath looks for name in each PATH directory in turn. Like a shell, it
// skips directories and non-executable files and keeps looking; when only
// non-executable candidates exist it reports 126 rather than 127, because
// "permission denied" is the truer message.
func searchPath(name, path string, _ []string) (string, error) {
	var notExec error
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "." // POSIX: an empty entry means the current directory
		}
		cand := filepath.Join(dir, name)
		err := checkExecutable(cand)
		if err == nil {
			if !filepath.IsAbs(cand) {
				return "", &CommandError{Name: name, Code: CodeNotExecutable, Err: exec.ErrDot}
			}
			return cand, nil
		}
		if notExec == nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.EISDIR) {
			notExec = err
		}
	}
	if notExec != nil {
		return "", &CommandError{Name: name, Code: CodeNotExecutable, Err: notExec}
	}
	return "", &CommandError{Name: name, Code: CodeNotFound, Err: exec.ErrNotFound}
}
