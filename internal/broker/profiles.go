package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/hfbroker/hfbroker/internal/atomicfile"
	"github.com/hfbroker/hfbroker/internal/hub"
)

// Profile is a stored token's metadata. It never holds the token: the file it
// is persisted to is readable by anything running as the user.
type Profile struct {
	Name        string    `json:"name"`
	Endpoint    string    `json:"endpoint"`
	AddedAt     time.Time `json:"added_at"`
	Fingerprint string    `json:"fingerprint"`
	// Whoami is the Hub's last answer about the token (nil when never verified).
	Whoami *hub.Whoami `json:"whoami,omitempty"`
	// VerifiedAt is when Whoami was fetched.
	VerifiedAt time.Time `json:"verified_at,omitzero"`
	// Stale marks Whoami as needing a refresh before it is trusted again, e.g.
	// after git erased the credential following a 401.
	Stale bool `json:"stale,omitempty"`
	// Rejected records that the Hub last answered 401 for this token: it was
	// revoked or deleted. A successful refresh clears it.
	Rejected bool `json:"rejected,omitempty"`
	// OAuth: the store holds an access and a refresh token (login --web).
	OAuth bool `json:"oauth,omitempty"`
	// ExpiresAt is when the current token expires (OAuth tokens, expiring
	// tokens); zero when it does not.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// NeedsLogin: the Hub refused the refresh token; only a new
	// 'hfbroker login --web' revives the profile.
	NeedsLogin bool `json:"needs_login,omitempty"`
}

// User is the Hub user name of the token, "" when unknown.
func (p *Profile) User() string {
	if p.Whoami == nil {
		return ""
	}
	return p.Whoami.Name
}

// TokenRole is the token's role (read, write, fineGrained), "" when unknown.
func (p *Profile) TokenRole() string {
	if p.Whoami == nil || p.Whoami.Auth.AccessToken == nil {
		return ""
	}
	return p.Whoami.Auth.AccessToken.Role
}

// DisplayName is the token's name in the Hub's settings, "" when unknown.
func (p *Profile) DisplayName() string {
	if p.Whoami == nil || p.Whoami.Auth.AccessToken == nil {
		return ""
	}
	return p.Whoami.Auth.AccessToken.DisplayName
}

// profileFile is the on-disk form of all profiles.
type profileFile struct {
	Version  int        `json:"version"`
	Default  string     `json:"default,omitempty"`
	Profiles []*Profile `json:"profiles"`
}

// ProfileStore persists profile metadata as one JSON file, written atomically
// (temp file, fsync, rename) with mode 0600.
type ProfileStore struct {
	Path string
}

// Load reads the file; a missing file is no profiles.
func (s *ProfileStore) Load() (map[string]*Profile, string, error) {
	b, err := os.ReadFile(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]*Profile{}, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("read profiles: %w", err)
	}
	var f profileFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, "", fmt.Errorf("parse profiles %s: %w", s.Path, err)
	}
	m := make(map[string]*Profile, len(f.Profiles))
	for _, p := range f.Profiles {
		if p == nil || CheckName(p.Name) != nil {
			continue
		}
		m[p.Name] = p
	}
	if _, ok := m[f.Default]; !ok {
		f.Default = ""
	}
	return m, f.Default, nil
}

// Save writes every profile atomically.
func (s *ProfileStore) Save(profiles map[string]*Profile, def string) error {
	f := profileFile{Version: 1, Default: def, Profiles: sortedProfiles(profiles)}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode profiles: %w", err)
	}
	return WriteFileAtomic(s.Path, append(b, '\n'), 0o600)
}

func sortedProfiles(m map[string]*Profile) []*Profile {
	out := make([]*Profile, 0, len(m))
	for _, p := range m {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// WriteFileAtomic replaces path with data atomically, creating its
// directory 0700 first.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return atomicfile.WriteFile(path, data, mode)
}
