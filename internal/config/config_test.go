package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 18: [[route]] dir = "~/work/acme" gives kernels started there the
// acme profile; the dir is made absolute at load, and a route names either
// repos or a directory.
func TestRouteDir(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	load := func(body string) (*Config, error) {
		p := filepath.Join(t.TempDir(), "config.toml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return Load(p)
	}
	c, err := load("[[route]]\ndir = \"~/work/acme/\"\nprofile = \"acme\"\n[[route]]\nmatch = \"acme/*\"\nprofile = \"acme\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Routes[0].Dir, filepath.Join(home, "work", "acme"); got != want {
		t.Errorf("dir = %q, want %q", got, want)
	}
	for body, want := range map[string]string{
		"[[route]]\ndir = \"work/acme\"\nprofile = \"acme\"\n":              "must be absolute",
		"[[route]]\ndir = \"/w\"\nmatch = \"acme/*\"\nprofile = \"acme\"\n": "either match or dir",
		"[[route]]\nprofile = \"acme\"\n":                                   "either match or dir",
		"[[route]]\ndir = \"/w\"\n":                                         "needs a profile",
	} {
		if _, err := load(body); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", body, err, want)
		}
	}
}
