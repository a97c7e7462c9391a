package daemon

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/hfbroker/hfbroker/internal/config"
)

// DaemonLogMaxBytes caps hfbrokerd.log, the file an autostarted daemon logs
// to; one older file, hfbrokerd.log.1, is kept, so the two stay under twice
// this. Without a cap a flood of requests grew it to 42 MB in 5 s (issue 19
// item 6); now refusals are counted rather than logged, and the cap holds
// whatever else goes wrong.
const DaemonLogMaxBytes = 1 << 20

// cappedLog appends to a file and rotates it to path.1 before a write would
// take it over max bytes. After a rotation it points the process's stderr at
// the new file too (redirectStderr), so that what the runtime writes there
// (a panic) lands in the current file, not in the rotated one.
type cappedLog struct {
	path string
	max  int64
	// stderr is true when the file is the process's stderr.
	stderr bool

	mu   sync.Mutex
	f    *os.File
	size int64
}

var _ io.Writer = (*cappedLog)(nil)

// openCappedLog opens path for appending with a cap of limit bytes.
func openCappedLog(path string, limit int64, stderr bool) (*cappedLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open daemon log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open daemon log: %w", err)
	}
	return &cappedLog{path: path, max: limit, stderr: stderr, f: f, size: fi.Size()}, nil
}

// daemonLogFor returns a capped writer over hfbrokerd.log when the daemon's
// stderr is that file (an autostart by the client points it there), and nil
// otherwise: a terminal, the journal or a file of the user's own choosing
// is left as it is.
func daemonLogFor(env config.Env, stderr *os.File) *cappedLog {
	paths, err := config.ResolvePaths(env)
	if err != nil {
		return nil
	}
	si, err := stderr.Stat()
	if err != nil || !si.Mode().IsRegular() {
		return nil
	}
	fi, err := os.Stat(paths.DaemonLog())
	if err != nil || !os.SameFile(si, fi) {
		return nil
	}
	w, err := openCappedLog(paths.DaemonLog(), DaemonLogMaxBytes, true)
	if err != nil {
		return nil
	}
	return w
}

// Write appends b, rotating first if b would take the file over the cap. A
// single write larger than the cap goes whole into a fresh file.
func (w *cappedLog) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return 0, os.ErrClosed
	}
	if w.size > 0 && w.size+int64(len(b)) > w.max {
		if err := w.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := w.f.Write(b)
	w.size += int64(n)
	return n, err
}

// rotate moves the file to path.1 (replacing it) and starts a new one.
// Called with w.mu held.
func (w *cappedLog) rotate() error {
	if err := os.Rename(w.path, w.path+".1"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("rotate daemon log: %w", err)
	}
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("rotate daemon log: %w", err)
	}
	if w.stderr {
		_ = redirectStderr(f)
	}
	w.f.Close()
	w.f, w.size = f, 0
	return nil
}

// Close closes the file.
func (w *cappedLog) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}
