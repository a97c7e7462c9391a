// Package fullcli says where the two halves of the hfbroker command find each
// other (issue 16). `hfbroker` is a small front end (internal/front) that
// answers token, git-credential and exec itself when it can and otherwise
// executes the full CLI, `hfbroker-cli` (internal/cli), with the same
// arguments. The full CLI sits beside the front (go install, release
// archives) or in ../libexec/hfbroker/ relative to it (packages, Homebrew),
// where no man page is owed for it.
package fullcli

import (
	"errors"
	"os"
	"path/filepath"
)

// Name is the full CLI's file name.
const Name = "hfbroker-cli"

// EnvHandover names the descriptor on which the front hands the full CLI
// the daemon's error reply to a call the front made (internal/lane's
// Handover), so that the full CLI does not make the call again. The front
// sets it only for the full CLI it executes; the full CLI removes it from
// its environment first thing.
const EnvHandover = "HFBROKER_FRONT_REPLY"

// FrontName is the front end's file name.
const FrontName = "hfbroker"

// libexec is the full CLI's directory relative to the front's.
const libexec = "../libexec/hfbroker"

// ErrNotFound means no full CLI is installed beside the front.
var ErrNotFound = errors.New(Name + " is not installed beside hfbroker, nor in ../libexec/hfbroker/")

// Find returns the full CLI that goes with the front at front (the front's
// own executable path).
// A front reached through a symlink (Homebrew links bin/hfbroker into its
// prefix, but not libexec) is looked for again where the link leads.
func Find(front string) (string, error) {
	fronts := []string{front}
	if real, err := filepath.EvalSymlinks(front); err == nil && real != front {
		fronts = append(fronts, real)
	}
	for _, f := range fronts {
		dir := filepath.Dir(f)
		for _, p := range []string{filepath.Join(dir, Name), filepath.Join(dir, libexec, Name)} {
			if isFile(p) {
				return p, nil
			}
		}
	}
	return "", ErrNotFound
}

// Front returns the front end that goes with the full CLI at full (the full
// CLI's own executable path), or "" when full is not the full CLI or no
// front is installed with it. Whatever hands out hfbroker's path to run
// later (git's credential helper, Jupyter's kernel launcher) names the front,
// so that those calls take the fast path.
func Front(full string) string {
	if filepath.Base(full) != Name {
		return ""
	}
	dir := filepath.Dir(full)
	cands := []string{filepath.Join(dir, FrontName)}
	if filepath.Base(dir) == "hfbroker" && filepath.Base(filepath.Dir(dir)) == "libexec" {
		cands = append(cands, filepath.Join(dir, "..", "..", "bin", FrontName))
	}
	for _, p := range cands {
		if isFile(p) {
			return filepath.Clean(p)
		}
	}
	return ""
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}
