package fullcli

import (
	"os"
	"path/filepath"
	"testing"
)

func touch(t *testing.T, p string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFindBesideAndInLibexec(t *testing.T) {
	t.Run("beside the front, as go install and the release archives put it", func(t *testing.T) {
		dir := t.TempDir()
		front := touch(t, filepath.Join(dir, "bin", "hfbroker"))
		full := touch(t, filepath.Join(dir, "bin", Name))
		if got, err := Find(front); err != nil || got != full {
			t.Fatalf("Find = %q, %v; want %q", got, err, full)
		}
		if got := Front(full); got != front {
			t.Fatalf("Front = %q, want %q", got, front)
		}
	})
	t.Run("in ../libexec/hfbroker, as the packages put it", func(t *testing.T) {
		dir := t.TempDir()
		front := touch(t, filepath.Join(dir, "usr", "bin", "hfbroker"))
		full := touch(t, filepath.Join(dir, "usr", "libexec", "hfbroker", Name))
		got, err := Find(front)
		if err != nil || filepath.Clean(got) != full {
			t.Fatalf("Find = %q, %v; want %q", got, err, full)
		}
		if got := Front(full); got != front {
			t.Fatalf("Front = %q, want %q", got, front)
		}
	})
	t.Run("through a symlink to the front, as Homebrew links bin/hfbroker", func(t *testing.T) {
		dir := t.TempDir()
		front := touch(t, filepath.Join(dir, "Cellar", "hfbroker", "1.0", "bin", "hfbroker"))
		full := touch(t, filepath.Join(dir, "Cellar", "hfbroker", "1.0", "libexec", "hfbroker", Name))
		link := filepath.Join(dir, "bin", "hfbroker")
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(front, link); err != nil {
			t.Fatal(err)
		}
		got, err := Find(link)
		if err != nil || filepath.Clean(got) != full {
			t.Fatalf("Find = %q, %v; want %q", got, err, full)
		}
	})
	t.Run("missing", func(t *testing.T) {
		dir := t.TempDir()
		front := touch(t, filepath.Join(dir, "hfbroker"))
		if _, err := Find(front); err == nil {
			t.Fatal("Find found a full CLI that is not there")
		}
		if got := Front(filepath.Join(dir, "other")); got != "" {
			t.Fatalf("Front of a binary that is not the full CLI = %q", got)
		}
	})
}
