// Package config resolves hfbroker's paths (XDG base directories), the Hub
// endpoint, and reads config.toml.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/hfbroker/hfbroker/internal/hubapi"
	"github.com/hfbroker/hfbroker/internal/xdg"
)

// DefaultEndpoint is the Hub that huggingface_hub talks to when HF_ENDPOINT is unset.
const DefaultEndpoint = hubapi.DefaultEndpoint

// Defaults for lease lifetimes.
const (
	DefaultLeaseTTL = 1 * time.Hour
	DefaultMaxTTL   = 12 * time.Hour
	DefaultGitTTL   = 15 * time.Minute
	// DefaultMaxUntilExit bounds a lease that ends with its job
	// (exec --ttl 0): a training run of weeks fits, a forgotten one ends.
	DefaultMaxUntilExit = 30 * 24 * time.Hour
)

// Env looks up an environment variable; tests pass a map's lookup.
type Env func(string) string

// Paths are the places hfbroker keeps its files (internal/xdg, a leaf the
// hfbroker front end shares).
type Paths = xdg.Paths

// ResolvePaths applies the XDG base directory rules: an unset or relative
// XDG_* variable falls back to its default under HOME.
func ResolvePaths(env Env) (Paths, error) { return xdg.Resolve(env) }

// Error is a config error with a hint that says how to fix it.
type Error struct {
	Msg  string
	hint string
}

func (e *Error) Error() string { return e.Msg }

// Hint says how to fix the error.
func (e *Error) Hint() string { return e.hint }

// checkRouteMatch rejects a route pattern that can never match a repo id.
// Repo ids are "ns/name" for models and "datasets/ns/name" or
// "spaces/ns/name" otherwise, and path.Match's * and ? never match a "/":
// so "*" alone matches nothing, silently, unless it is an error here.
func checkRouteMatch(m string) *Error {
	if _, err := path.Match(m, ""); err != nil {
		return &Error{Msg: fmt.Sprintf("match %q is not a valid pattern: %v", m, err),
			hint: `write a repo id or a pattern such as "acme/*" (see 'go doc path.Match')`}
	}
	segs := strings.Split(m, "/")
	switch {
	case len(segs) == 1:
		return &Error{Msg: fmt.Sprintf("match %q can never match a repo id: a * stops at \"/\"", m),
			hint: `write "*/*" for every model repo, "acme/*" for one namespace, "datasets/*/*" for every dataset`}
	case len(segs) > 3:
		return &Error{Msg: fmt.Sprintf("match %q can never match a repo id: it has more than three parts", m),
			hint: `write "namespace/name", or "datasets/namespace/name" for a dataset ("spaces/…" for a space)`}
	case len(segs) == 3:
		ds, _ := path.Match(segs[0], "datasets")
		sp, _ := path.Match(segs[0], "spaces")
		if !ds && !sp {
			return &Error{Msg: fmt.Sprintf("match %q can never match a repo id: only datasets/ and spaces/ prefix a repo id", m),
				hint: `models have no prefix: write "namespace/name"; datasets and spaces start with "datasets/" or "spaces/"`}
		}
	}
	return nil
}

// Route sends requests for matching repos to a named profile, overriding the
// broker's own choice.
type Route struct {
	// Match is a repo pattern: "acme/*", "acme/llm", "datasets/acme/*".
	Match string `toml:"match"`
	// Dir instead matches leases that name no repo by the working
	// directory of the process that takes them: "~/work/acme" (a Jupyter
	// kernel works in its notebook's directory).
	Dir     string `toml:"dir"`
	Profile string `toml:"profile"`
}

// Config is config.toml.
type Config struct {
	// Endpoint is the Hub; HF_ENDPOINT overrides it.
	Endpoint string `toml:"endpoint"`
	// Backend is "auto", "keychain", "file" or "memory".
	Backend string `toml:"backend"`
	// OAuthClientID is the OAuth client of `hfbroker login --web`;
	// HF_DEVICE_CODE_OAUTH_CLIENT_ID overrides it (see OAuthClientID).
	OAuthClientID string `toml:"oauth_client_id"`
	Lease         struct {
		DefaultTTL duration `toml:"default_ttl"`
		MaxTTL     duration `toml:"max_ttl"`
		GitTTL     duration `toml:"git_ttl"`
		// MaxUntilExit bounds leases that end with their processes.
		MaxUntilExit duration `toml:"max_until_exit"`
	} `toml:"lease"`
	Git struct {
		// Prefer is "write" (default: a token that can push, when one exists) or "read".
		Prefer string `toml:"prefer"`
	} `toml:"git"`
	Routes []Route `toml:"route"`
}

type duration struct{ time.Duration }

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("not a duration like 15m or 1h: %q", b)
	}
	if v <= 0 {
		return fmt.Errorf("duration must be positive: %q", b)
	}
	d.Duration = v
	return nil
}

// LeaseTTL, MaxTTL and GitTTL return the configured lifetimes or their defaults.
func (c *Config) LeaseTTL() time.Duration {
	return orDefault(c.Lease.DefaultTTL.Duration, DefaultLeaseTTL)
}
func (c *Config) MaxTTL() time.Duration { return orDefault(c.Lease.MaxTTL.Duration, DefaultMaxTTL) }
func (c *Config) GitTTL() time.Duration { return orDefault(c.Lease.GitTTL.Duration, DefaultGitTTL) }

// MaxUntilExit returns the configured bound on leases until exit, or its default.
func (c *Config) MaxUntilExit() time.Duration {
	return orDefault(c.Lease.MaxUntilExit.Duration, DefaultMaxUntilExit)
}

func orDefault(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

// Load reads config.toml; a missing file is an empty config. Unknown keys are
// an error so a typo does not silently change nothing.
func Load(path string) (*Config, error) {
	c, _, err := LoadText(path)
	return c, err
}

// LoadText is Load that also returns the text it parsed, nil when there is
// no file (the full CLI records it for the front end, internal/frontconfig).
func LoadText(path string) (*Config, []byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{}, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(path, b)
	if err != nil {
		return nil, nil, err
	}
	return c, b, nil
}

// Parse reads config.toml's text; path names the file in errors.
func Parse(path string, b []byte) (*Config, error) {
	c := &Config{}
	if len(b) > 1<<20 {
		return nil, fmt.Errorf("config %s is larger than 1 MiB", path)
	}
	md, err := toml.Decode(string(b), c)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if undec := md.Undecoded(); len(undec) > 0 {
		return nil, fmt.Errorf("parse %s: unknown key %q", path, undec[0].String())
	}
	switch c.Backend {
	case "", "auto", "keychain", "file", "memory":
	default:
		return nil, fmt.Errorf("parse %s: backend must be auto, keychain, file or memory, not %q", path, c.Backend)
	}
	switch c.Git.Prefer {
	case "", "write", "read":
	default:
		return nil, fmt.Errorf("parse %s: git.prefer must be write or read, not %q", path, c.Git.Prefer)
	}
	for i, r := range c.Routes {
		if (r.Match == "") == (r.Dir == "") || r.Profile == "" {
			return nil, fmt.Errorf("parse %s: route %d needs a profile and either match or dir", path, i+1)
		}
		if r.Dir != "" {
			dir, err := routeDir(r.Dir)
			if err != nil {
				return nil, fmt.Errorf("parse %s: route %d: %w", path, i+1, err)
			}
			c.Routes[i].Dir = dir
		}
		if r.Match == "" {
			continue // a directory route
		}
		if err := checkRouteMatch(r.Match); err != nil {
			err.Msg = fmt.Sprintf("parse %s: route %d: %s", path, i+1, err.Msg)
			return nil, err
		}
	}
	if c.Endpoint != "" {
		ep, err := hubapi.NormalizeEndpoint(c.Endpoint)
		if err != nil {
			// "endpoint: " names the key, for Check's line finder.
			return nil, fmt.Errorf("parse %s: endpoint: %w", path, err)
		}
		c.Endpoint = ep
	}
	return c, nil
}

// routeDir makes a route's dir absolute: "~/" is the home directory.
func routeDir(d string) (string, error) {
	if d == "~" || strings.HasPrefix(d, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("dir %q: %w", d, err)
		}
		d = filepath.Join(home, strings.TrimPrefix(d, "~"))
	}
	if !filepath.IsAbs(d) {
		return "", fmt.Errorf("dir %q must be absolute or start with ~/", d)
	}
	return filepath.Clean(d), nil
}

// Endpoint resolves the Hub endpoint as huggingface_hub does: HF_ENDPOINT,
// else the config's, else https://huggingface.co.
func Endpoint(env Env, c *Config) (string, error) {
	if v := env("HF_ENDPOINT"); v != "" {
		ep, err := hubapi.NormalizeEndpoint(v)
		if err != nil {
			return "", fmt.Errorf("HF_ENDPOINT: %w", err)
		}
		return ep, nil
	}
	if c != nil && c.Endpoint != "" {
		return c.Endpoint, nil
	}
	return DefaultEndpoint, nil
}

// NormalizeEndpoint is hubapi.NormalizeEndpoint, kept for callers on other
// branches.
//
// Deprecated: call hubapi.NormalizeEndpoint.
func NormalizeEndpoint(raw string) (string, error) { return hubapi.NormalizeEndpoint(raw) }

// IsLoopback is hubapi.IsLoopback, kept for callers on other branches.
//
// Deprecated: call hubapi.IsLoopback.
func IsLoopback(host string) bool { return hubapi.IsLoopback(host) }

// OAuthClientID resolves the OAuth client id of device login as
// huggingface_hub does: HF_DEVICE_CODE_OAUTH_CLIENT_ID, else the config's
// oauth_client_id, else "" (the Hub client's default public client).
func OAuthClientID(env Env, c *Config) string {
	if v := env("HF_DEVICE_CODE_OAUTH_CLIENT_ID"); v != "" {
		return v
	}
	if c != nil {
		return c.OAuthClientID
	}
	return ""
}
