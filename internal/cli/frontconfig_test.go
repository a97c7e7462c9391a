//go:build unix

package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hfbroker/hfbroker/internal/config"
	"github.com/hfbroker/hfbroker/internal/frontconfig"
	"github.com/hfbroker/hfbroker/internal/frontconfig/frontrecord"
)

// Issue 16: the front end, which links no toml, answers the hot commands
// with a config.toml only from the record the full CLI made of it; a file
// that does not load is never recorded.
func TestConfigRecordsALoadedConfigForTheFront(t *testing.T) {
	home := t.TempDir()
	env := map[string]string{"HOME": home}
	f := &Factory{Env: func(k string) string { return env[k] }}
	paths, err := config.ResolvePaths(f.Env)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(paths.ConfigDir, 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(paths.ConfigFile(), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	write("endpoint = \"HTTPS://Hub.Example/\"\n")
	if _, err := f.Config(); err != nil {
		t.Fatal(err)
	}
	ep, ok := frontrecord.Lookup(paths.ConfigFile(), frontconfig.Path(paths), os.Geteuid())
	if !ok || ep != "https://hub.example" {
		t.Errorf("after the full CLI loaded config.toml the front reads %q, %v; want the normalised endpoint", ep, ok)
	}
	if got := filepath.Dir(frontconfig.Path(paths)); got != paths.StateDir {
		t.Errorf("the record is in %s, want the state directory %s", got, paths.StateDir)
	}

	write("backend = \"nonsense\"\n")
	if _, err := f.Config(); err == nil {
		t.Fatal("a broken config.toml loaded")
	}
	if ep, ok := frontrecord.Lookup(paths.ConfigFile(), frontconfig.Path(paths), os.Geteuid()); ok {
		t.Errorf("the front answers with a broken config.toml (endpoint %q); it must hand over for the full CLI to report it", ep)
	}
}
