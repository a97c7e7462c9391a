package daemon

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hfbroker/hfbroker/internal/config"
)

func routeConfig(profile string) string {
	return "[[route]]\nmatch = \"acme/*\"\nprofile = \"" + profile + "\"\n"
}

// writeAt writes text to path in place (same inode) with the given mtime.
func writeAt(t *testing.T, path, text string, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func routeOf(c *config.Config) string {
	if c == nil || len(c.Routes) == 0 {
		return ""
	}
	return c.Routes[0].Profile
}

// Issue 19: routes (and every other config change) needed a daemon restart.
// The watcher re-reads config.toml when a call finds it changed; a file that
// no longer loads leaves the last good config in force, with its error in
// status, until it is fixed.
func TestConfigEditTakesEffectWithoutRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	old := time.Now().Add(-time.Hour)
	writeAt(t, path, routeConfig("reader"), old)
	w, err := newConfigWatcher(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var applied []string
	w.apply = func(c *config.Config) { applied = append(applied, routeOf(c)) }
	first := w.status()
	if routeOf(w.config()) != "reader" || first.Hash == "" || first.Err != nil || first.Path != path {
		t.Fatalf("initial state %+v, route %q", first, routeOf(w.config()))
	}

	w.check() // unchanged: nothing to do
	if len(applied) != 0 {
		t.Fatalf("an unchanged file was applied again: %v", applied)
	}

	writeAt(t, path, routeConfig("laptop-write"), old.Add(time.Minute))
	w.check()
	if routeOf(w.config()) != "laptop-write" || len(applied) != 1 || applied[0] != "laptop-write" {
		t.Fatalf("after an edit: route %q, applied %v", routeOf(w.config()), applied)
	}
	good := w.status()
	if good.Hash == first.Hash || good.Err != nil {
		t.Fatalf("status after the edit: %+v (first %+v)", good, first)
	}

	// A broken edit: the last good config stays, the error shows.
	writeAt(t, path, "[[route]]\nmatch = \"*\"\nprofile = \"reader\"\n", old.Add(2*time.Minute))
	w.check()
	bad := w.status()
	if routeOf(w.config()) != "laptop-write" || len(applied) != 1 {
		t.Fatalf("a broken file replaced the config in force: route %q, applied %v", routeOf(w.config()), applied)
	}
	if bad.Err == nil || !strings.Contains(bad.Err.Error(), `"*"`) || bad.Hash != good.Hash {
		t.Fatalf("status with a broken file: %+v", bad)
	}

	// Fixed, by an editor that renames a new file over the old one.
	tmp := path + ".new"
	writeAt(t, tmp, routeConfig("acme-ci"), old.Add(2*time.Minute))
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	w.check()
	if st := w.status(); routeOf(w.config()) != "acme-ci" || st.Err != nil {
		t.Fatalf("after the fix: route %q, status %+v", routeOf(w.config()), st)
	}

	// Removed: the defaults apply.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	w.check()
	if st := w.status(); routeOf(w.config()) != "" || st.Hash != "" || st.Err != nil {
		t.Fatalf("after removal: route %q, status %+v", routeOf(w.config()), st)
	}
}

// Two edits inside one tick of the file system's clock, of the same size,
// leave the same stat: within racyWindow of the mtime the watcher compares
// the text itself.
func TestConfigEditInTheSameTickIsNotMissed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	now := time.Now()
	writeAt(t, path, routeConfig("aaaa"), now)
	w, err := newConfigWatcher(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	w.now = func() time.Time { return now }
	writeAt(t, path, routeConfig("bbbb"), now)
	w.check()
	if got := routeOf(w.config()); got != "bbbb" {
		t.Fatalf("route = %q after a same-size edit in the same tick", got)
	}
}

// Issue 19: SIGHUP ended the daemon instead of reloading its config. It now
// re-reads config.toml, even when an edit left the stat as it was.
func TestSIGHUPReloadsTheConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	old := time.Now().Add(-time.Hour)
	writeAt(t, path, routeConfig("aaaa"), old)
	w, err := newConfigWatcher(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	applied := make(chan string, 1)
	w.apply = func(c *config.Config) { applied <- routeOf(c) }
	stop := reloadOnSIGHUP(w)
	defer stop()

	// Same size, same inode, same mtime: a stat cannot tell.
	writeAt(t, path, routeConfig("bbbb"), old)
	w.check()
	if got := routeOf(w.config()); got != "aaaa" {
		t.Fatalf("the stat check saw an edit it cannot see (route %q): the test proves nothing", got)
	}
	if err := sendHUP(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-applied:
		if got != "bbbb" {
			t.Fatalf("SIGHUP applied route %q, want bbbb", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("SIGHUP did not reload the config")
	}
}

// The check before every call stats config.toml and allocates nothing
// (issue 16: it ran os.Stat, three allocations per call), and still sees
// every change a stat can: another size, another mtime, another file put in
// its place (rename over it, a symlink pointed elsewhere), the file removed
// and created again.
func TestConfigCheckAllocatesNothingAndSeesEveryStatChange(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	old := time.Now().Add(-time.Hour)
	writeAt(t, path, routeConfig("aaaa"), old)
	w, err := newConfigWatcher(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, w.check); n != 0 {
		t.Errorf("check of an unchanged file: %v allocations; want 0", n)
	}
	expect := func(what, route string) {
		t.Helper()
		w.check()
		if got := routeOf(w.config()); got != route {
			t.Fatalf("after %s: route %q, want %q", what, got, route)
		}
	}
	writeAt(t, path, routeConfig("bbbbb"), old)
	expect("an edit to another size", "bbbbb")
	writeAt(t, path, routeConfig("ccccc"), old.Add(time.Second))
	expect("an edit of the same size with another mtime", "ccccc")
	other := filepath.Join(dir, "new.toml")
	writeAt(t, other, routeConfig("ddddd"), old.Add(time.Second))
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	expect("another file of the same size and mtime renamed over it", "ddddd")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	expect("its removal", "")
	target := filepath.Join(dir, "a.toml")
	writeAt(t, target, routeConfig("eeeee"), old)
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	expect("a symlink to a new file", "eeeee")
	if n := testing.AllocsPerRun(100, w.check); n != 0 {
		t.Errorf("check through a symlink: %v allocations; want 0", n)
	}
	target2 := filepath.Join(dir, "b.toml")
	writeAt(t, target2, routeConfig("fffff"), old)
	tmp := filepath.Join(dir, "link.tmp")
	if err := os.Symlink(target2, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	expect("the symlink pointed at another file of the same size and mtime", "fffff")
}
