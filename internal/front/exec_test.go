//go:build unix

package front

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hfbroker/hfbroker/internal/runenv"
)

// lookPath finds what runenv.Resolve finds, or hands over.
func TestLookPathIsRunenvs(t *testing.T) {
	dir := t.TempDir()
	mk := func(p string, mode os.FileMode) string {
		p = filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	mk("bin/tool", 0o755)
	mk("noexec/tool", 0o644)
	mk("bin2/other", 0o755)
	os.MkdirAll(filepath.Join(dir, "dirs/tool"), 0o755)
	bin, noexec, bin2, dirs := filepath.Join(dir, "bin"), filepath.Join(dir, "noexec"), filepath.Join(dir, "bin2"), filepath.Join(dir, "dirs")
	t.Chdir(bin)
	for _, c := range []struct {
		name, path string
		found      bool // the front answers itself
	}{
		{"tool", bin, true},
		{"tool", dirs + ":" + bin, true},
		{"tool", "/nonexistent:" + bin, true},
		{"tool", noexec + ":" + bin, false}, // runenv looks on; the front hands over
		{"tool", noexec, false},
		{"tool", ".", false},
		{"tool", ":" + bin, false},
		{"tool", "", false},
		{"missing", bin, false},
		{"other", bin + ":" + bin2, true},
		{filepath.Join(bin, "tool"), "", true},
		{filepath.Join(noexec, "tool"), "", false},
		{"./tool", "", true},
		{dirs + "/tool", "", false},
		{"", bin, false},
	} {
		env := []string{"PATH=" + c.path}
		got, ok := lookPath(c.name, env)
		want, err := runenv.Resolve(c.name, env)
		if ok != c.found {
			t.Errorf("%q in PATH=%q: front found=%v, want %v (runenv %q %v)", c.name, c.path, ok, c.found, want, err)
		}
		if ok && (err != nil || got != want) {
			t.Errorf("%q in PATH=%q: front %q; runenv %q %v", c.name, c.path, got, want, err)
		}
	}
}

// A failed execve is told as runenv tells it.
func TestExecErrorIsRunenvs(t *testing.T) {
	for _, name := range []string{"tool", "my tool", "t\x1b", "caf\u00e9"} {
		for _, errno := range []syscall.Errno{syscall.ENOENT, syscall.EACCES, syscall.ENOEXEC, syscall.ETXTBSY} {
			code, msg := execError(name, errno)
			err := runenv.Exec("/nonexistent/"+name, []string{name}, nil)
			if errno != syscall.ENOENT {
				// runenv.Exec's errno here is always ENOENT; build the rest.
				err = &runenv.CommandError{Name: name, Code: runenv.CodeNotExecutable, Err: errno}
			}
			var ce *runenv.CommandError
			if !errors.As(err, &ce) {
				t.Fatalf("runenv.Exec: %v", err)
			}
			if code != ce.ExitCode() || msg != ce.Error() {
				t.Errorf("%q %v: front %d %q; runenv %d %q", name, errno, code, msg, ce.ExitCode(), ce.Error())
			}
		}
	}
}
