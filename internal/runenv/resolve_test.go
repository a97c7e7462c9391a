//go:build !windows

package runenv

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\nexit 0\n"), mode); err != nil {
		t.Fatal(err)
	}
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	bin, other := filepath.Join(dir, "bin"), filepath.Join(dir, "other")
	for _, d := range []string{bin, other, filepath.Join(bin, "adir")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(bin, "tool"), 0o755)
	writeFile(t, filepath.Join(bin, "plain"), 0o644)
	writeFile(t, filepath.Join(bin, "both"), 0o644)
	writeFile(t, filepath.Join(other, "both"), 0o755)
	writeFile(t, filepath.Join(other, "adir"), 0o755)
	path := "PATH=" + bin + string(filepath.ListSeparator) + other

	tests := []struct {
		name     string
		cmd      string
		env      []string
		want     string
		wantCode int
		wantMsg  string
	}{
		{"a command on PATH is found", "tool", []string{path}, filepath.Join(bin, "tool"), 0, ""},
		{"the child's PATH is searched, not hfbroker's", "tool", []string{"PATH=/nonexistent", path}, filepath.Join(bin, "tool"), 0, ""},
		{"a missing command is 127", "no-such-tool", []string{path}, "", 127, "command not found: no-such-tool"},
		{"no PATH at all is 127", "tool", nil, "", 127, "command not found: tool"},
		{"a non-executable file is 126", "plain", []string{path}, "", 126, "cannot run plain: permission denied"},
		{"a later executable beats an earlier non-executable file", "both", []string{path}, filepath.Join(other, "both"), 0, ""},
		{"a directory on PATH is skipped", "adir", []string{path}, filepath.Join(other, "adir"), 0, ""},
		{"an explicit path is not searched", filepath.Join(bin, "tool"), nil, filepath.Join(bin, "tool"), 0, ""},
		{"an explicit missing path is 127", filepath.Join(bin, "nope"), nil, "", 127, "command not found: "},
		{"an explicit directory is 126", bin, nil, "", 126, "is a directory"},
		{"an explicit non-executable file is 126", filepath.Join(bin, "plain"), nil, "", 126, "permission denied"},
		{"a relative PATH entry is refused", "tool", []string{"PATH=" + filepath.Base(bin)}, "", 126, "relative PATH entry"},
		{"a name with a newline is quoted in the message", "a\nb", []string{path}, "", 127, `command not found: "a\nb"`},
		{"an empty name is 127", "", []string{path}, "", 127, `command not found: ""`},
	}
	// Relative PATH entries resolve against the working directory.
	t.Chdir(dir)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(tc.cmd, tc.env)
			if tc.wantCode == 0 {
				if err != nil || got != tc.want {
					t.Fatalf("Resolve(%q) = %q, %v; want %q", tc.cmd, got, err, tc.want)
				}
				return
			}
			var ce *CommandError
			if !errors.As(err, &ce) {
				t.Fatalf("Resolve(%q) = %q, %v; want a *CommandError", tc.cmd, got, err)
			}
			if ce.ExitCode() != tc.wantCode {
				t.Errorf("exit code %d, want %d (%v)", ce.ExitCode(), tc.wantCode, err)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.wantMsg) || strings.Contains(msg, "\n") {
				t.Errorf("message %q, want one line containing %q", msg, tc.wantMsg)
			}
			if tc.wantCode == 127 && !errors.Is(err, exec.ErrNotFound) && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a 127 should unwrap to not found: %v", err)
			}
		})
	}
}
