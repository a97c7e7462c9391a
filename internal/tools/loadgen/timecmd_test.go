package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFreshCopiesRunTheSameProgramFromNewFiles: -fresh times copies written
// now, each alone in its directory under its own base name, and the copies
// run.
func TestFreshCopiesRunTheSameProgramFromNewFiles(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	argvs := [][]string{{sh, "-c", "echo one"}, {sh, "-c", "echo two"}}
	dir := t.TempDir()
	if err := freshCopies(dir, argvs); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(sh)
	if err != nil {
		t.Fatal(err)
	}
	if argvs[0][0] == argvs[1][0] || filepath.Dir(argvs[0][0]) == filepath.Dir(argvs[1][0]) {
		t.Fatalf("the copies share a file or a directory: %q, %q", argvs[0][0], argvs[1][0])
	}
	for i, argv := range argvs {
		if filepath.Base(argv[0]) != filepath.Base(sh) || !strings.HasPrefix(argv[0], dir) {
			t.Errorf("copy %d is %q, want %s under %s", i, argv[0], filepath.Base(sh), dir)
		}
		got, err := os.ReadFile(argv[0])
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("copy %d differs from %s (%v)", i, sh, err)
		}
		out, err := exec.Command(argv[0], argv[1:]...).Output()
		if err != nil || len(out) == 0 {
			t.Errorf("copy %d did not run: %v", i, err)
		}
	}
}
