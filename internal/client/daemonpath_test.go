package client

import (
	"os"
	"path/filepath"
	"testing"
)

// Issue 16: packages install the full CLI in /usr/libexec/hfbroker/, where
// no hfbrokerd sits beside it; autostart must find the one beside the
// front end, /usr/bin/hfbrokerd, even with no PATH to search.
func TestAutostartFindsTheDaemonBesideTheFrontFromLibexec(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{"usr/bin/hfbroker", "usr/bin/hfbrokerd", "usr/libexec/hfbroker/hfbroker-cli"} {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", "")
	got, err := daemonPathFrom(func(string) string { return "" }, filepath.Join(root, "usr/libexec/hfbroker/hfbroker-cli"))
	if want := filepath.Join(root, "usr/bin/hfbrokerd"); err != nil || got != want {
		t.Fatalf("daemonPathFrom = %q, %v; want %q", got, err, want)
	}
}
