//go:build unix

package socket

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// DefaultPath returns the socket path the daemon listens on and the CLI dials:
// $HFBROKER_SOCKET if set; else $XDG_RUNTIME_DIR/hfbroker/hfbrokerd.sock when
// $XDG_RUNTIME_DIR is an absolute path to a directory we own with no group or
// other access and is not a symlink; else <temp dir>/hfbroker-<uid>/hfbrokerd.sock.
//
// A bad $XDG_RUNTIME_DIR is skipped rather than fatal: it is routinely wrong
// after su/sudo and on hosts without logind, and the temp-dir fallback is
// still protected by PrepareDir's checks. The daemon and the CLI call this
// with the same environment, so they agree on the fallback.
func DefaultPath() (string, error) {
	if p := os.Getenv(EnvSocket); p != "" {
		if !filepath.IsAbs(p) {
			// A relative path would resolve differently for the daemon (which
			// may run from / under a service manager) and the CLI.
			return "", fmt.Errorf("%s=%q is not an absolute path; set it to an absolute path", EnvSocket, p)
		}
		p = filepath.Clean(p)
		if err := CheckPathLen(p); err != nil {
			return "", err
		}
		return p, nil
	}
	var p string
	if rt := os.Getenv("XDG_RUNTIME_DIR"); rt != "" && filepath.IsAbs(rt) && checkPrivateDir(rt) == nil {
		p = filepath.Join(rt, "hfbroker", SocketName)
	} else {
		p = filepath.Join(os.TempDir(), "hfbroker-"+strconv.Itoa(os.Getuid()), SocketName)
	}
	if err := CheckPathLen(p); err != nil {
		return "", err
	}
	return p, nil
}

// PrepareDir makes dir ready to hold the socket: it creates it with mode 0700
// if missing (and its parents, also 0700), then checks that it is a directory,
// not a symlink, owned by us, with no group or other permission bits.
//
// An existing directory with loose permissions is refused, not chmod'ed:
// like git's credential-cache we cannot know who already reached into it
// (another user could have planted a socket or a hard link there), so the
// person is told how to fix it instead.
func PrepareDir(dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return fmt.Errorf("create parent of socket directory %s: %w", dir, err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create socket directory %s: %w", dir, err)
	}
	return checkPrivateDir(dir)
}

// CheckDir runs PrepareDir's checks on an existing socket directory without
// changing anything, so that a client can say why a daemon would refuse it
// before starting one; a directory that does not exist yet passes (the
// daemon creates it).
func CheckDir(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return checkPrivateDir(dir)
}

// checkPrivateDir reports, with a fix, why dir is not a private directory of
// the current user.
func checkPrivateDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("inspect socket directory: %w", err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%w: %s is a symlink; the socket directory must be a real directory (remove the symlink or set %s)", ErrUnsafeDir, dir, EnvSocket)
	case !fi.IsDir():
		return fmt.Errorf("%w: %s is not a directory (move it away or set %s)", ErrUnsafeDir, dir, EnvSocket)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%w: cannot read the owner of %s", ErrUnsafeDir, dir)
	}
	if uid := os.Getuid(); int(st.Uid) != uid {
		return fmt.Errorf("%w: %s is owned by uid %d, not you (uid %d); another user may control it: remove it or set %s",
			ErrUnsafeDir, dir, st.Uid, uid, EnvSocket)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %#o, so other users may reach the socket; run: chmod 0700 %s",
			ErrUnsafeDir, dir, perm, dir)
	}
	return nil
}
