package profilefile_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hfbroker/hfbroker/internal/broker"
	"github.com/hfbroker/hfbroker/internal/profilefile"
)

func TestAMissingFileIsNoProfiles(t *testing.T) {
	s := &profilefile.Store{Path: filepath.Join(t.TempDir(), "state", "profiles.json")}
	ps, def, err := s.Load()
	if err != nil || len(ps) != 0 || def != "" {
		t.Fatalf("Load = %v, %q, %v; want nothing", ps, def, err)
	}
}

// Save creates the state directory 0700 and the file 0600, sorted by
// name, and Load gives back what was saved.
func TestSaveThenLoadRoundTrips(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s := &profilefile.Store{Path: filepath.Join(dir, "profiles.json")}
	at := time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)
	in := map[string]*broker.Profile{
		"work":   {Name: "work", Endpoint: "https://huggingface.co", AddedAt: at, Fingerprint: "fp-w"},
		"laptop": {Name: "laptop", Endpoint: "https://huggingface.co", AddedAt: at, Fingerprint: "fp-l", Stale: true},
	}
	if err := s.Save(in, "work"); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, s.Path: 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode() != want {
			t.Fatalf("%s: mode %v, %v; want %v", path, fi.Mode(), err, want)
		}
	}
	raw, _ := os.ReadFile(s.Path)
	if i, j := strings.Index(string(raw), `"name": "laptop"`), strings.Index(string(raw), `"name": "work"`); i < 0 || j < 0 || i > j {
		t.Fatalf("profiles are not sorted by name:\n%s", raw)
	}
	out, def, err := s.Load()
	if err != nil || def != "work" || len(out) != 2 {
		t.Fatalf("Load = %d profiles, %q, %v", len(out), def, err)
	}
	if got := out["laptop"]; got == nil || !got.Stale || got.Fingerprint != "fp-l" || !got.AddedAt.Equal(at) {
		t.Fatalf("laptop came back as %+v", got)
	}
}

func TestAFileThatIsNotJSONIsAnError(t *testing.T) {
	s := &profilefile.Store{Path: filepath.Join(t.TempDir(), "profiles.json")}
	if err := os.WriteFile(s.Path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Load(); err == nil || !strings.Contains(err.Error(), s.Path) {
		t.Fatalf("Load of a corrupt file: %v; want an error naming the file", err)
	}
}
