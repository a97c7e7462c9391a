//go:build windows

package runenv

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

const pathSeparators = `/\:`

var errIsDir = errors.New("is a directory")

// checkExecutable on Windows: a regular file whose extension is in PATHEXT
// (checked by the caller) is runnable; there are no mode bits to consult.
func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return &os.PathError{Op: "exec", Path: path, Err: errIsDir}
	}
	return nil
}

func pathExts(env []string) []string {
	v, _ := lookup(env, "PATHEXT")
	if v == "" {
		return []string{".com", ".exe", ".bat", ".cmd"}
	}
	var exts []string
	for _, e := range strings.Split(strings.ToLower(v), ";") {
		if e != "" && e[0] == '.' {
			exts = append(exts, e)
		}
	}
	return exts
}

// searchPath follows os/exec's Windows rules on PATH and PATHEXT from env;
// the current directory is not searched implicitly.
func searchPath(name, path string, env []string) (string, error) {
	exts := pathExts(env)
	hasExt := false
	for _, e := range exts {
		if strings.HasSuffix(strings.ToLower(name), e) {
			hasExt = true
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue
		}
		base := filepath.Join(dir, name)
		cands := []string{}
		if hasExt {
			cands = append(cands, base)
		}
		for _, e := range exts {
			cands = append(cands, base+e)
		}
		for _, c := range cands {
			if err := checkExecutable(c); err == nil {
				if !filepath.IsAbs(c) {
					return "", &CommandError{Name: name, Code: CodeNotExecutable, Err: exec.ErrDot}
				}
				return c, nil
			} else if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, errIsDir) {
				return "", &CommandError{Name: name, Code: CodeNotExecutable, Err: err}
			}
		}
	}
	return "", &CommandError{Name: name, Code: CodeNotFound, Err: exec.ErrNotFound}
}
