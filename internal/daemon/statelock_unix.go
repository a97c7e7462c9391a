//go:build !windows

package daemon

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// stateLockName is the lock file in the state directory that one daemon
// holds for as long as it runs.
const stateLockName = "hfbrokerd.lock"

// flock is unix.Flock; a test stands in a filesystem that takes no locks.
var flock = unix.Flock

// lockState makes this daemon the only one that keeps the user's tokens and
// profiles (the files under stateDir, the vault, the keychain items). The
// socket's own lock allows one daemon per socket only, and two sockets for
// one user are common: a shell without XDG_RUNTIME_DIR (cron, su, sudo -u)
// falls back to the temp directory. Two daemons on one store each rewrite
// it from their own memory, so each erased the tokens and profiles the
// other had added. It takes a non-blocking flock on stateDir/hfbrokerd.lock
// and writes its socket path there, so that a second daemon can say which
// socket to use instead. The returned function releases the lock.
func lockState(stateDir, socketPath string) (func(), error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	path := filepath.Join(stateDir, stateLockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", path, err)
	}
	for {
		err = flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if errors.Is(err, unix.EWOULDBLOCK) {
		b, _ := io.ReadAll(io.LimitReader(f, 4096))
		f.Close()
		other := strings.TrimSpace(string(b))
		if other == "" || strings.ContainsFunc(other, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			other = "another socket"
		}
		return nil, fmt.Errorf("another hfbrokerd already keeps this user's tokens (it holds %s) and serves %s; "+
			"two daemons would overwrite each other's tokens: run hfbroker with HFBROKER_SOCKET=%s", path, other, other)
	}
	if errors.Is(err, unix.ENOLCK) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		// A home on NFS mounted without a lock manager: the daemon runs
		// as it did before this lock, and says so.
		f.Close()
		return func() {}, &stateLockUnsupported{path: path, err: err}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// Who holds the lock, for the message above; the lock works without it.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(socketPath+"\n"), 0)
	}
	return func() { f.Close() }, nil
}
