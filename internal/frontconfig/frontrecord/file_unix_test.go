//go:build unix

package frontrecord

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// files is a config.toml and its record's path in a fresh directory.
func files(t *testing.T) (cfg, rec string) {
	t.Helper()
	dir := t.TempDir()
	cfg = filepath.Join(dir, "config", "config.toml")
	rec = filepath.Join(dir, "state", FileName)
	for _, d := range []string{filepath.Dir(cfg), filepath.Dir(rec)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return cfg, rec
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// record writes, as the full CLI would, the record of config.toml as it is
// now, whatever its size.
func record(t *testing.T, cfg, rec, endpoint string) Record {
	t.Helper()
	content, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(cfg, &st); err != nil {
		t.Fatal(err)
	}
	r := Record{File: FileIdentity(&st), Endpoint: endpoint, Content: string(content)}
	write(t, rec, r.Encode())
	return r
}

func wantLookup(t *testing.T, cfg, rec, wantEp string, wantOK bool) {
	t.Helper()
	ep, ok := Lookup(cfg, rec, os.Geteuid())
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

func TestLookupAnswersFromTheRecordOfThisFileAndContent(t *testing.T) {
	cfg, rec := files(t)
	write(t, cfg, []byte(sampleText))
	wantLookup(t, cfg, rec, "", false) // no record: hand over
	record(t, cfg, rec, "https://hub.example")
	wantLookup(t, cfg, rec, "https://hub.example", true)
	// The endpoint is the record's, verbatim: checking it is the caller's.
	record(t, cfg, rec, "not-a-url")
	wantLookup(t, cfg, rec, "not-a-url", true)
}

// The content is compared byte for byte: a record whose inline copy
// differs from the file is not used even when every stat field matches.
func TestLookupRefusesARecordOfOtherBytesWithTheFilesIdentity(t *testing.T) {
	cfg, rec := files(t)
	write(t, cfg, []byte(sampleText))
	r := record(t, cfg, rec, "https://hub.example")
	r.Content = strings.Replace(r.Content, "hub", "hob", 1)
	write(t, rec, r.Encode())
	wantLookup(t, cfg, rec, "", false)
}

// A config.toml over MaxContent is the full CLI's to read: no record can
// match it, even one written for it.
func TestLookupHandsOverAConfigLargerThanARecordHolds(t *testing.T) {
	cfg, rec := files(t)
	write(t, cfg, []byte(sampleText+strings.Repeat("# padding\n", MaxContent/10)))
	record(t, cfg, rec, "https://hub.example")
	wantLookup(t, cfg, rec, "", false)
}

// Before v2 the record held a SHA-256 of the content; the front no longer
// links one, and hands a v1 record's config to the full CLI, which
// rewrites the record.
func TestLookupRefusesAV1Record(t *testing.T) {
	cfg, rec := files(t)
	write(t, cfg, []byte(sampleText))
	var st syscall.Stat_t
	if err := syscall.Stat(cfg, &st); err != nil {
		t.Fatal(err)
	}
	id := FileIdentity(&st)
	// sha256sum of sampleText, as v1 wrote it.
	const sum = "0cc0294ef81a3286c2775f6acb71ef021b964e771bdfe6caeaa8be1cd139e8cb"
	v1 := "hfbroker-front-config v1 " + strings.Join([]string{
		u(id.Dev), u(id.Ino), i(id.Size), i(id.Mtime), i(id.Ctime), sum, "https://hub.example",
	}, " ") + "\n"
	write(t, rec, []byte(v1))
	wantLookup(t, cfg, rec, "", false)
}

func TestLookupDoesNotHangOnAFIFOConfig(t *testing.T) {
	cfg, rec := files(t)
	write(t, cfg, []byte(sampleText))
	record(t, cfg, rec, "https://hub.example")
	wantLookup(t, cfg, rec, "https://hub.example", true)
	os.Remove(cfg)
	if err := unix.Mkfifo(cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	// No writer ever opens it: a blocking open would never return.
	wantLookup(t, cfg, rec, "", false)
}

// Whoever can write the record chooses the Hub the front sends tokens to:
// only a regular file of ours, writable by us alone, counts.
func TestARecordNotOursIsIgnored(t *testing.T) {
	setup := func(t *testing.T) (cfg, rec string) {
		cfg, rec = files(t)
		write(t, cfg, []byte(sampleText))
		record(t, cfg, rec, "https://hub.example")
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
		"garbage":        func(t *testing.T, rec string) { write(t, rec, []byte("\x00\x01garbage\n")) },
		"trailing garbage": func(t *testing.T, rec string) {
			b, _ := os.ReadFile(rec)
			write(t, rec, append(b, '\n'))
		},
		"empty": func(t *testing.T, rec string) { write(t, rec, nil) },
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
		cfg, rec := setup(t)
		if _, err := ReadRecord(rec, os.Geteuid()); err != nil {
			t.Fatalf("our own record: %v", err)
		}
		if _, err := ReadRecord(rec, os.Geteuid()+1); !errors.Is(err, ErrBadRecord) {
			t.Errorf("a record owned by another uid: err = %v, want ErrBadRecord", err)
		}
		if ep, ok := Lookup(cfg, rec, os.Geteuid()+1); ok {
			t.Errorf("Lookup for another uid = %q, %v; want a handover", ep, ok)
		}
	})
}

func chmod(t *testing.T, p string, m os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, m); err != nil {
		t.Fatal(err)
	}
}

func u(n uint64) string { return strconv.FormatUint(n, 10) }
func i(n int64) string  { return strconv.FormatInt(n, 10) }
