// Package xdg resolves hfbroker's files under the XDG base directories: a
// leaf (no toml, no protobuf) that the full CLI and the daemon share. The
// hfbroker front end, which links no os, keeps a copy of Resolve's rule
// (internal/front's configPaths), held to this one by its tests.
package xdg

import (
	"fmt"
	"os"
	"path/filepath"
)

// Paths are the places hfbroker keeps its files.
type Paths struct {
	ConfigDir string // $XDG_CONFIG_HOME/hfbroker
	StateDir  string // $XDG_STATE_HOME/hfbroker
	DataDir   string // $XDG_DATA_HOME/hfbroker
}

// ConfigFile is config.toml's path.
func (p Paths) ConfigFile() string { return filepath.Join(p.ConfigDir, "config.toml") }

// ProfilesFile holds profile metadata (never a token).
func (p Paths) ProfilesFile() string { return filepath.Join(p.StateDir, "profiles.json") }

// AuditFile is the JSONL audit log.
func (p Paths) AuditFile() string { return filepath.Join(p.StateDir, "audit.jsonl") }

// DaemonLog is where an autostarted daemon writes its log.
func (p Paths) DaemonLog() string { return filepath.Join(p.StateDir, "hfbrokerd.log") }

// VaultFile is the encrypted file vault of the file backend.
func (p Paths) VaultFile() string { return filepath.Join(p.DataDir, "vault.age") }

// Resolve applies the XDG base directory rules: an unset or relative XDG_*
// variable falls back to its default under HOME.
func Resolve(env func(string) string) (Paths, error) {
	home := env("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return Paths{}, fmt.Errorf("find home directory: %w", err)
		}
		home = h
	}
	dir := func(name, def string) string {
		if v := env(name); filepath.IsAbs(v) {
			return v
		}
		return filepath.Join(home, def)
	}
	return Paths{
		ConfigDir: filepath.Join(dir("XDG_CONFIG_HOME", ".config"), "hfbroker"),
		StateDir:  filepath.Join(dir("XDG_STATE_HOME", ".local/state"), "hfbroker"),
		DataDir:   filepath.Join(dir("XDG_DATA_HOME", ".local/share"), "hfbroker"),
	}, nil
}
