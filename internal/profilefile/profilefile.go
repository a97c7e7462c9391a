// Package profilefile keeps the broker's profile metadata (never a token) in
// one JSON file, written atomically (temp file, fsync, rename) with mode
// 0600: the broker.ProfileStore the daemon gives the broker.
package profilefile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/hfbroker/hfbroker/internal/atomicfile"
	"github.com/hfbroker/hfbroker/internal/broker"
)

// Store is the profiles file at Path ($XDG_STATE_HOME/hfbroker/profiles.json).
type Store struct {
	Path string
}

var _ broker.ProfileStore = (*Store)(nil)

// file is the on-disk form of all profiles.
type file struct {
	Version  int               `json:"version"`
	Default  string            `json:"default,omitempty"`
	Profiles []*broker.Profile `json:"profiles"`
}

// Load reads the file; a missing file is no profiles. Which entries are
// usable (a valid name, a default that exists) the broker decides.
func (s *Store) Load() (map[string]*broker.Profile, string, error) {
	b, err := os.ReadFile(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]*broker.Profile{}, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("read profiles: %w", err)
	}
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, "", fmt.Errorf("parse profiles %s: %w", s.Path, err)
	}
	m := make(map[string]*broker.Profile, len(f.Profiles))
	for _, p := range f.Profiles {
		if p != nil {
			m[p.Name] = p
		}
	}
	return m, f.Default, nil
}

// Save writes every profile atomically, sorted by name, creating the
// file's directory 0700 first.
func (s *Store) Save(profiles map[string]*broker.Profile, def string) error {
	f := file{Version: 1, Default: def, Profiles: make([]*broker.Profile, 0, len(profiles))}
	for _, p := range profiles {
		f.Profiles = append(f.Profiles, p)
	}
	sort.Slice(f.Profiles, func(i, j int) bool { return f.Profiles[i].Name < f.Profiles[j].Name })
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode profiles: %w", err)
	}
	dir := filepath.Dir(s.Path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return atomicfile.WriteFile(s.Path, append(b, '\n'), 0o600)
}
