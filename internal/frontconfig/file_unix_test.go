//go:build unix

package frontconfig

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// files is a config.toml and its record in a fresh directory.
func files(t *testing.T) (cfg, rec string) {
	t.Helper()
	dir := t.TempDir()
	cfg = filepath.Join(dir, "config", "config.toml")
	if err := os.MkdirAll(filepath.Dir(cfg), 0o700); err != nil {
		t.Fatal(err)
	}
	return cfg, filepath.Join(dir, "state", "hfbroker", FileName)
}

func writeConfig(t *testing.T, path, text string) []byte {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return []byte(text)
}

func remember(t *testing.T, cfg, rec string, text []byte, ep string) {
	t.Helper()
	if err := Remember(cfg, rec, text, ep); err != nil {
		t.Fatalf("Remember: %v", err)
	}
}

func wantLookup(t *testing.T, cfg, rec, wantEp string, wantOK bool) {
	t.Helper()
	ep, ok := Lookup(cfg, rec)
	if ep != wantEp || ok != wantOK {
		t.Errorf("Lookup = %q, %v; want %q, %v", ep, ok, wantEp, wantOK)
	}
}

func TestLookupWithoutConfigFileIsTheDefault(t *testing.T) {
	cfg, rec := files(t)
	wantLookup(t, cfg, rec, "", true)
	// config.Load reads a dangling symlink as no file: so does the front.
	if err := os.Symlink(filepath.Join(filepath.Dir(cfg), "gone.toml"), cfg); err != nil {
		t.Fatal(err)
	}
	wantLookup(t, cfg, rec, "", true)
}

func TestLookupAnswersFromTheRecordOfThisFile(t *testing.T) {
	cfg, rec := files(t)
	text := writeConfig(t, cfg, "endpoint = \"https://hub.example\"\n")
	wantLookup(t, cfg, rec, "", false) // not recorded yet: hand over
	remember(t, cfg, rec, text, "https://hub.example")
	wantLookup(t, cfg, rec, "https://hub.example", true)
	fi, err := os.Lstat(rec)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o600 {
		t.Errorf("record's mode = %v, want -rw-------", fi.Mode())
	}

	// A config without endpoint: recorded as none.
	text = writeConfig(t, cfg, "backend = \"memory\"\n")
	wantLookup(t, cfg, rec, "", false)
	remember(t, cfg, rec, text, "")
	wantLookup(t, cfg, rec, "", true)
}

func TestRememberRewritesNothingThatIsCurrent(t *testing.T) {
	cfg, rec := files(t)
	text := writeConfig(t, cfg, "endpoint = \"https://hub.example\"\n")
	remember(t, cfg, rec, text, "https://hub.example")
	before, err := os.Stat(rec)
	if err != nil {
		t.Fatal(err)
	}
	remember(t, cfg, rec, text, "https://hub.example")
	after, err := os.Stat(rec)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Error("Remember replaced a record that was current (an fsync on every full-CLI command)")
	}
}

// config.Load follows a symlink: the record is the target's, and pointing
// the link at another file (even with the same text) is a change.
func TestLookupFollowsASymlinkedConfig(t *testing.T) {
	cfg, rec := files(t)
	dir := filepath.Dir(cfg)
	a, b := filepath.Join(dir, "a.toml"), filepath.Join(dir, "b.toml")
	text := writeConfig(t, a, "endpoint = \"https://hub.example\"\n")
	writeConfig(t, b, string(text))
	if err := os.Symlink(a, cfg); err != nil {
		t.Fatal(err)
	}
	remember(t, cfg, rec, text, "https://hub.example")
	wantLookup(t, cfg, rec, "https://hub.example", true)
	os.Remove(cfg)
	if err := os.Symlink(b, cfg); err != nil {
		t.Fatal(err)
	}
	wantLookup(t, cfg, rec, "", false)
}

func TestAChangedConfigHandsOver(t *testing.T) {
	const text = "endpoint = \"https://hub.example\"\n"
	for name, change := range map[string]func(t *testing.T, cfg string){
		"edited in place, same size, mtime restored": func(t *testing.T, cfg string) {
			fi, err := os.Stat(cfg)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(cfg, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte("hob"), int64(len("endpoint = \"https://"))); err != nil {
				t.Fatal(err)
			}
			f.Close()
			if err := os.Chtimes(cfg, time.Time{}, fi.ModTime()); err != nil {
				t.Fatal(err)
			}
		},
		"touched, mtime restored (only ctime moves)": func(t *testing.T, cfg string) {
			fi, err := os.Stat(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(cfg, 0o644); err != nil { // moves ctime only
				t.Fatal(err)
			}
			if err := os.Chtimes(cfg, time.Time{}, fi.ModTime()); err != nil {
				t.Fatal(err)
			}
		},
		"replaced by a copy (another inode)": func(t *testing.T, cfg string) {
			tmp := cfg + ".new"
			writeConfig(t, tmp, text)
			if err := os.Rename(tmp, cfg); err != nil {
				t.Fatal(err)
			}
		},
		"grown": func(t *testing.T, cfg string) { writeConfig(t, cfg, text+"backend = \"memory\"\n") },
		"replaced by a FIFO (must not hang)": func(t *testing.T, cfg string) {
			os.Remove(cfg)
			if err := unix.Mkfifo(cfg, 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"removed and a directory put there": func(t *testing.T, cfg string) {
			os.Remove(cfg)
			if err := os.Mkdir(cfg, 0o700); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, rec := files(t)
			b := writeConfig(t, cfg, text)
			remember(t, cfg, rec, b, "https://hub.example")
			wantLookup(t, cfg, rec, "https://hub.example", true)
			change(t, cfg)
			wantLookup(t, cfg, rec, "", false)
		})
	}
}

// Whoever can write the record chooses the Hub the front sends tokens to:
// only a regular file of ours, writable by us alone, counts.
func TestARecordNotOursIsIgnored(t *testing.T) {
	const text = "endpoint = \"https://hub.example\"\n"
	setup := func(t *testing.T) (cfg, rec string) {
		cfg, rec = files(t)
		remember(t, cfg, rec, writeConfig(t, cfg, text), "https://hub.example")
		wantLookup(t, cfg, rec, "https://hub.example", true)
		return cfg, rec
	}
	for name, spoil := range map[string]func(t *testing.T, rec string){
		"a symlink": func(t *testing.T, rec string) {
			real := rec + ".real"
			if err := os.Rename(rec, real); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(real, rec); err != nil {
				t.Fatal(err)
			}
		},
		"world-writable": func(t *testing.T, rec string) { chmod(t, rec, 0o602) },
		"group-writable": func(t *testing.T, rec string) { chmod(t, rec, 0o620) },
		"garbage":        func(t *testing.T, rec string) { overwrite(t, rec, []byte("\x00\x01garbage\n")) },
		"a future version": func(t *testing.T, rec string) {
			b, _ := os.ReadFile(rec)
			overwrite(t, rec, bytes.Replace(b, []byte(" v1 "), []byte(" v2 "), 1))
		},
		"empty": func(t *testing.T, rec string) { overwrite(t, rec, nil) },
		"a FIFO (must not hang)": func(t *testing.T, rec string) {
			os.Remove(rec)
			if err := unix.Mkfifo(rec, 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"a directory": func(t *testing.T, rec string) {
			os.Remove(rec)
			if err := os.Mkdir(rec, 0o700); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, rec := setup(t)
			spoil(t, rec)
			wantLookup(t, cfg, rec, "", false)
		})
	}
	t.Run("another owner", func(t *testing.T) {
		_, rec := setup(t)
		if _, err := readRecord(rec, os.Geteuid()); err != nil {
			t.Fatalf("our own record: %v", err)
		}
		if _, err := readRecord(rec, os.Geteuid()+1); !errors.Is(err, ErrBadRecord) {
			t.Errorf("a record owned by another uid: err = %v, want ErrBadRecord", err)
		}
	})
}

func chmod(t *testing.T, p string, m os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, m); err != nil {
		t.Fatal(err)
	}
}

// overwrite changes the record's content in place, keeping its mode.
func overwrite(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
