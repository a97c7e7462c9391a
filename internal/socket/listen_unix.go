//go:build unix

package socket

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Listener is the daemon's listening socket together with the single-instance
// lock that guards it. Accept and Addr come from the wrapped listener.
type Listener struct {
	net.Listener

	path string
	id   fileID // the socket file we bound, to recognise it later
	lock *os.File

	closed    chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// fileID identifies a file independently of its name.
type fileID struct{ dev, ino uint64 }

func idOf(fi fs.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}, true
}

// Listen prepares the socket directory, takes the single-instance lock
// (<path>.lock, held until Close), clears a stale socket and listens on path
// with mode 0600.
//
// It returns an error wrapping ErrAlreadyRunning when another process holds
// the lock or answers on the socket. A live socket and anything that is not a
// socket are never removed: only a socket that refuses connections is stale.
func Listen(path string) (*Listener, error) {
	path, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("resolve socket path: %w", err)
	}
	if err := CheckPathLen(path); err != nil {
		return nil, err
	}
	if err := PrepareDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	lock, err := acquireLock(path)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			lock.Close() // closing the descriptor releases the flock
		}
	}()

	if err := removeStale(path); err != nil {
		return nil, err
	}
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	// We unlink ourselves in Close, and only if the file is still ours.
	ul.SetUnlinkOnClose(false)
	fail := func(err error) (*Listener, error) {
		ul.Close()
		os.Remove(path) // we hold the lock and just bound it: it is ours
		return nil, err
	}
	// net.Listen takes no mode and the umask is process-wide, so the mode is
	// set after bind; the 0700 directory covers the moment in between.
	if err := os.Chmod(path, 0o600); err != nil {
		return fail(fmt.Errorf("restrict socket %s: %w", path, err))
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fail(fmt.Errorf("inspect socket %s: %w", path, err))
	}
	id, idOK := idOf(fi)
	if !idOK {
		return fail(fmt.Errorf("inspect socket %s: no device/inode", path))
	}
	ok = true
	return &Listener{Listener: ul, path: path, id: id, lock: lock, closed: make(chan struct{})}, nil
}

// acquireLock takes a non-blocking exclusive flock on <path>.lock. flock locks
// belong to the open file description, so two Listen calls in one process
// exclude each other just as two processes do. The lock file is never
// removed: unlinking it would let a later starter lock a fresh inode while an
// older daemon still holds the old one.
func acquireLock(path string) (*os.File, error) {
	lockPath := path + ".lock"
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", lockPath, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("a daemon is %w on %s (lock %s is held)", ErrAlreadyRunning, path, lockPath)
		}
		return nil, fmt.Errorf("lock %s: %w", lockPath, err)
	}
	return f, nil
}

// removeStale removes path only if it is a socket that nothing answers on,
// following ssh-agent's socket_is_stale: a socket left by a killed daemon
// refuses connections; anything else is either alive or not ours to delete.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("inspect %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%w: %s exists and is a %s, not a socket; refusing to remove it (move it away or set %s)",
			ErrNotSocket, path, describeType(fi.Mode()), EnvSocket)
	}
	c, err := net.DialTimeout("unix", path, dialProbeTimeout)
	if err == nil {
		c.Close()
		return fmt.Errorf("a daemon is %w on %s (it accepts connections)", ErrAlreadyRunning, path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("probe existing socket %s (not removing it): %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	return nil
}

func describeType(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m.IsDir():
		return "directory"
	case m.IsRegular():
		return "regular file"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "non-socket file"
}

// Path returns the absolute socket path.
func (l *Listener) Path() string { return l.path }

// Close stops listening, unlinks the socket if the file at the path is still
// the one we bound (a newer daemon may have replaced it), and releases the
// lock. It is safe to call more than once, e.g. by grpc.Server.Stop and then
// by the daemon; later calls return the first result.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		// Mark closed before unlinking so a running Watch does not report
		// our own removal.
		close(l.closed)
		var errs []error
		if l.stillOurs() == nil {
			if err := os.Remove(l.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("remove socket %s: %w", l.path, err))
			}
		}
		if err := l.Listener.Close(); err != nil {
			errs = append(errs, err)
		}
		// Release last, so no second daemon can start until the socket is gone.
		if err := l.lock.Close(); err != nil {
			errs = append(errs, fmt.Errorf("release lock: %w", err))
		}
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}

// stillOurs returns nil if the socket file at the path is the one we bound,
// else an error wrapping ErrSocketRemoved or ErrSocketReplaced.
func (l *Listener) stillOurs() error {
	fi, err := os.Lstat(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s no longer exists (deleted, or its directory was cleaned up at logout)", ErrSocketRemoved, l.path)
	}
	if err != nil {
		return fmt.Errorf("%w: cannot inspect %s: %w", ErrSocketRemoved, l.path, err)
	}
	if id, ok := idOf(fi); !ok || id != l.id || fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%w: %s is now a different file (another daemon may have taken over)", ErrSocketReplaced, l.path)
	}
	return nil
}

func (l *Listener) isClosed() bool {
	select {
	case <-l.closed:
		return true
	default:
		return false
	}
}

// Watch tells when the socket file is removed or replaced: the returned
// channel then yields one error (wrapping ErrSocketRemoved or
// ErrSocketReplaced) and is closed; the daemon should then shut down, as
// gpg-agent does, because no client can reach it any more. On Linux the
// kernel reports changes to the socket's directory (inotify), so an idle
// daemon is not woken; elsewhere, or if inotify fails, it checks every
// interval (DefaultWatchInterval if interval <= 0). The channel is closed
// without a value when ctx is done or the Listener is closed.
func (l *Listener) Watch(ctx context.Context, interval time.Duration) <-chan error {
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	ch := make(chan error, 1)
	changes, stopChanges, err := watchDir(filepath.Dir(l.path))
	go func() {
		defer close(ch)
		var tick <-chan time.Time
		poll := func() {
			t := time.NewTicker(interval)
			tick = t.C
			stopChanges = t.Stop
		}
		if err != nil {
			poll()
		}
		defer func() { stopChanges() }()
		for {
			select {
			case <-ctx.Done():
				return
			case <-l.closed:
				return
			case <-tick:
			case _, ok := <-changes:
				if !ok { // inotify failed: poll from now on
					changes = nil
					stopChanges()
					poll()
				}
			}
			err := l.stillOurs()
			// Close marks the listener closed before it unlinks, so a failure
			// seen here after our own Close is caught by this re-check.
			if err == nil || l.isClosed() {
				continue
			}
			ch <- err // buffered: never blocks
			return
		}
	}()
	return ch
}
