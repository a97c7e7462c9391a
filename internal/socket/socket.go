// Package socket owns the daemon's socket path, its directory, the
// single-instance lock and stale-socket handling.
package socket

import (
	"errors"
	"fmt"
	"time"
)

// EnvSocket names the variable that overrides the socket path. Error messages
// point people at it, because it is the fix for every path problem this
// package can report.
const EnvSocket = "HFBROKER_SOCKET"

// SocketName is the socket's file name inside its directory.
const SocketName = "hfbrokerd.sock"

// maxPathLen is the size of sun_path on macOS and the BSDs (Linux allows 108).
// One rule everywhere keeps a path that works on Linux from failing on a Mac,
// and the terminating NUL means the path itself must be shorter than this.
const maxPathLen = 104

// DefaultWatchInterval is how often Watch checks the socket file when the
// caller passes no interval.
const DefaultWatchInterval = 2 * time.Second

// dialProbeTimeout bounds the probe of an existing socket. A live daemon
// accepts in microseconds; a wedged one should not stall start-up for long,
// and a timeout is treated as "alive", so nothing is unlinked.
const dialProbeTimeout = 500 * time.Millisecond

var (
	// ErrAlreadyRunning reports that another daemon holds the lock or answers on
	// the socket. Its text contains "already running" so people and scripts
	// recognise it.
	ErrAlreadyRunning = errors.New("already running")

	// ErrPathTooLong reports a socket path that does not fit in sun_path.
	ErrPathTooLong = errors.New("socket path too long")

	// ErrNotSocket reports that something other than a socket sits at the
	// socket path. It is never removed: it may be someone's file, or a symlink
	// planted to make us delete one.
	ErrNotSocket = errors.New("not a socket")

	// ErrUnsafeDir reports a socket directory that other users could reach or
	// that is not ours.
	ErrUnsafeDir = errors.New("unsafe socket directory")

	// ErrSocketRemoved is reported by Watch when the socket file is gone.
	ErrSocketRemoved = errors.New("socket file removed")

	// ErrSocketReplaced is reported by Watch when a different file now sits at
	// the socket path.
	ErrSocketReplaced = errors.New("socket file replaced")
)

// CheckPathLen returns an error wrapping ErrPathTooLong when path cannot be
// bound as a unix socket on every supported platform.
func CheckPathLen(path string) error {
	if len(path) >= maxPathLen {
		return fmt.Errorf("%w: %q is %d bytes, but unix socket paths must be shorter than %d bytes; set %s to a shorter path (e.g. /tmp/hfbroker-$UID/%s)",
			ErrPathTooLong, path, len(path), maxPathLen, EnvSocket, SocketName)
	}
	return nil
}
