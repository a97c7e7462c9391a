//go:build unix

package front

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hfbroker/hfbroker/internal/frontconfig"
	"github.com/hfbroker/hfbroker/internal/fullcli"
	"github.com/hfbroker/hfbroker/internal/socket"
	"github.com/hfbroker/hfbroker/internal/xdg"
)

// The front's paths follow the rules of the packages that own them, which
// link os; these hold each copy to its owner.

func TestFrontPathConstantsAreTheirOwners(t *testing.T) {
	for _, c := range []struct{ front, owner string }{
		{envSocket, socket.EnvSocket},
		{envForward, socket.EnvForward},
		{envHandover, fullcli.EnvHandover},
		{socketName, socket.SocketName},
		{restrictedName, socket.RestrictedName},
		{fullName, fullcli.Name},
		{recordName, frontconfig.FileName},
		{errFullNotFound, fullcli.ErrNotFound.Error()},
	} {
		if c.front != c.owner {
			t.Errorf("the front has %q where its owner has %q", c.front, c.owner)
		}
	}
	long := "/" + string(make([]byte, maxSocketPath-1))
	if socket.CheckPathLen(long) == nil || socket.CheckPathLen(long[:maxSocketPath-1]) != nil {
		t.Errorf("maxSocketPath %d is not socket.CheckPathLen's bound", maxSocketPath)
	}
}

func TestConfigPathsAreXDGs(t *testing.T) {
	for _, env := range []map[string]string{
		{"HOME": "/home/a"},
		{"HOME": "/home/a/", "XDG_CONFIG_HOME": "/cfg", "XDG_STATE_HOME": "/st//x/"},
		{"HOME": "/home/a", "XDG_CONFIG_HOME": "relative", "XDG_STATE_HOME": "./s"},
		{"HOME": "rel/home"},
		{"HOME": "/h/../g", "XDG_CONFIG_HOME": "/c/./d/.."},
	} {
		setEnv(t, env, "HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME")
		p, err := xdg.Resolve(os.Getenv)
		cfg, state, ok := configPaths()
		if err != nil || !ok || cfg != p.ConfigFile() || state != p.StateDir || frontconfig.Path(p) != state+"/"+recordName {
			t.Errorf("%v: front %q %q %v; xdg %q %q %v", env, cfg, state, ok, p.ConfigFile(), p.StateDir, err)
		}
	}
	setEnv(t, map[string]string{}, "HOME")
	if _, _, ok := configPaths(); ok {
		t.Error("no HOME: the front went on; the full CLI reports it")
	}
}

func TestSocketPathIsSockets(t *testing.T) {
	dir := t.TempDir()
	private := filepath.Join(dir, "run")
	open := filepath.Join(dir, "open")
	os.Mkdir(private, 0o700)
	os.Mkdir(open, 0o755)
	os.Chmod(open, 0o755)
	long := filepath.Join(dir, string(bytesOf('x', 120)))
	for _, env := range []map[string]string{
		{"HFBROKER_SOCKET": "/a//b/../s.sock"},
		{"HFBROKER_SOCKET": "relative.sock"},
		{"HFBROKER_SOCKET": long},
		{"XDG_RUNTIME_DIR": private},
		{"XDG_RUNTIME_DIR": open},
		{"XDG_RUNTIME_DIR": filepath.Join(dir, "missing")},
		{"XDG_RUNTIME_DIR": "relative"},
		{"TMPDIR": dir},
		{"TMPDIR": dir + "//x/"},
		{"TMPDIR": long},
		{},
	} {
		setEnv(t, env, "HFBROKER_SOCKET", "XDG_RUNTIME_DIR", "TMPDIR")
		want, err := socket.DefaultPath()
		got, ok := socketPath()
		if ok != (err == nil) || ok && got != want {
			t.Errorf("%v: front %q %v; socket %q %v", env, got, ok, want, err)
		}
	}
}

func TestRestrictedIsSockets(t *testing.T) {
	for _, fwd := range []string{"", "1"} {
		t.Setenv(envForward, fwd)
		for _, p := range []string{"/r/hfbrokerd.sock", "/r/remote.sock", "/r/remote-gpu1.sock", "/r/remote-.sockx", "/remote.sock/x", "remote-a.sock"} {
			if got, want := restricted(p), socket.Restricted(p, os.Getenv); got != want {
				t.Errorf("HFBROKER_FORWARD=%q %q: front %v, socket %v", fwd, p, got, want)
			}
		}
	}
}

func TestFindFullIsFullclis(t *testing.T) {
	dir := t.TempDir()
	write := func(p string, mode os.FileMode) {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, nil, mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "a/hfbroker-cli"), 0o755)
	write(filepath.Join(dir, "b/bin/hfbroker"), 0o755)
	write(filepath.Join(dir, "b/libexec/hfbroker/hfbroker-cli"), 0o755)
	write(filepath.Join(dir, "c/hfbroker-cli"), 0o644)
	os.MkdirAll(filepath.Join(dir, "d/hfbroker-cli"), 0o755)
	for _, self := range []string{"a/hfbroker", "b/bin/hfbroker", "c/hfbroker", "d/hfbroker", "e/hfbroker"} {
		self = filepath.Join(dir, self)
		want, err := fullcli.Find(self)
		got, ok := findFull(self)
		if ok != (err == nil) || got != want {
			t.Errorf("%s: front %q %v; fullcli %q %v", self, got, ok, want, err)
		}
	}
}

// setEnv sets env and unsets the other keys, for the test.
func setEnv(t *testing.T, env map[string]string, keys ...string) {
	t.Helper()
	for _, k := range keys {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
}

func bytesOf(c byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return b
}
