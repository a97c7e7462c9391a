//go:build unix

package frontconfig

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hfbroker/hfbroker/internal/frontconfig/frontrecord"
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

// wantLookup asks the front's reader.
func wantLookup(t *testing.T, cfg, rec, wantEp string, wantOK bool) {
	t.Helper()
	if ep, ok := frontrecord.Lookup(cfg, rec, os.Geteuid()); ep != wantEp || ok != wantOK {
		t.Errorf("frontrecord.Lookup = %q, %v; want %q, %v", ep, ok, wantEp, wantOK)
	}
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

// A config.toml larger than a record holds is the full CLI's to read on
// every call: Remember writes no record for it, and removes the record of
// the smaller file it replaced.
func TestRememberRecordsNoConfigLargerThanARecordHolds(t *testing.T) {
	cfg, rec := files(t)
	text := writeConfig(t, cfg, "endpoint = \"https://hub.example\"\n")
	remember(t, cfg, rec, text, "https://hub.example")
	wantLookup(t, cfg, rec, "https://hub.example", true)

	big := writeConfig(t, cfg, string(text)+strings.Repeat("# padding\n", frontrecord.MaxContent/10))
	remember(t, cfg, rec, big, "https://hub.example")
	if _, err := os.Lstat(rec); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a record is left beside a config.toml of %d bytes: %v", len(big), err)
	}
	wantLookup(t, cfg, rec, "", false)
	remember(t, cfg, rec, big, "https://hub.example") // none to remove
	wantLookup(t, cfg, rec, "", false)

	// At the limit, it is recorded.
	exact := writeConfig(t, cfg, string(big[:frontrecord.MaxContent]))
	remember(t, cfg, rec, exact, "https://hub.example")
	wantLookup(t, cfg, rec, "https://hub.example", true)
}

// A v1 record (the content's SHA-256, which the front no longer links) is
// not used; the full CLI's next load rewrites it as v2.
func TestAV1RecordIsRewrittenAsV2(t *testing.T) {
	cfg, rec := files(t)
	text := writeConfig(t, cfg, "endpoint = \"https://hub.example\"\n")
	var st syscall.Stat_t
	if err := syscall.Stat(cfg, &st); err != nil {
		t.Fatal(err)
	}
	id := frontrecord.FileIdentity(&st)
	sum := sha256.Sum256(text)
	v1 := fmt.Sprintf("hfbroker-front-config v1 %d %d %d %d %d %x https://hub.example\n", id.Dev, id.Ino, id.Size, id.Mtime, id.Ctime, sum)
	if err := os.MkdirAll(filepath.Dir(rec), 0o700); err != nil {
		t.Fatal(err)
	}
	overwrite(t, rec, []byte(v1))
	wantLookup(t, cfg, rec, "", false)
	remember(t, cfg, rec, text, "https://hub.example")
	b, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("hfbroker-front-config v2 ")) || !bytes.HasSuffix(b, text) {
		t.Errorf("after a load the record is %q, want v2 with config.toml inline", b)
	}
	wantLookup(t, cfg, rec, "https://hub.example", true)
}

// The front sends tokens to the record's endpoint: Remember writes only a
// normalised Hub endpoint.
func TestARecordOfAnEndpointThatIsNotAHubIsNotUsed(t *testing.T) {
	cfg, rec := files(t)
	text := writeConfig(t, cfg, "endpoint = \"https://hub.example\"\n")
	for _, ep := range []string{"HTTPS://HUB.EXAMPLE/", "http://hub.example", "https://user:hf_secret@hub.example", "file:///etc/passwd"} {
		err := Remember(cfg, rec, text, ep)
		if err == nil {
			t.Errorf("Remember recorded the endpoint %q", ep)
		} else if strings.Contains(err.Error(), "hf_secret") {
			t.Errorf("Remember's error shows the endpoint's secret: %v", err)
		}
		if _, err := os.Lstat(rec); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Remember wrote a record for the endpoint %q", ep)
		}
	}
	// Written by hand (by us: the record is ours), the front's reader
	// returns it verbatim; the front then refuses it as an endpoint
	// (internal/front's parseEndpoint: plain http off loopback).
	var st syscall.Stat_t
	if err := syscall.Stat(cfg, &st); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(rec), 0o700); err != nil {
		t.Fatal(err)
	}
	r := frontrecord.Record{File: frontrecord.FileIdentity(&st), Endpoint: "http://hub.example", Content: string(text)}
	overwrite(t, rec, r.Encode())
	if ep, ok := frontrecord.Lookup(cfg, rec, os.Geteuid()); !ok || ep != "http://hub.example" {
		t.Fatalf("frontrecord.Lookup = %q, %v; want the record's endpoint verbatim", ep, ok)
	}
}

// overwrite changes the record's content in place, keeping its mode.
func overwrite(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// config.toml changed between config.Load's read and Remember's stat: the
// identity is the new file's and the content the old one's, a record no
// file can match, so none is written.
func TestRememberWritesNothingForAFileChangedSinceItWasRead(t *testing.T) {
	cfg, rec := files(t)
	read := writeConfig(t, cfg, "endpoint = \"https://hub.example\"\n")
	writeConfig(t, cfg, string(read)+"backend = \"memory\"\n")
	remember(t, cfg, rec, read, "https://hub.example")
	if _, err := os.Lstat(rec); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Remember wrote a record of content the file no longer has: %v", err)
	}
	wantLookup(t, cfg, rec, "", false)
}
