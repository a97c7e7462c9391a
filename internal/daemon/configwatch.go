package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/hfbroker/hfbroker/internal/config"
	"github.com/hfbroker/hfbroker/internal/server"
)

// racyWindow is how long after a file's modification time a same-looking
// stat is not trusted: file systems stamp mtime with a coarse clock, so two
// edits of the same size inside one tick look alike (git's "racy" index
// problem). Within it the file is read and hashed instead.
const racyWindow = 2 * time.Second

// configWatcher keeps the daemon in step with config.toml without a restart
// (issue 19). Before each call it stats the file (one system call, no
// polling: an idle daemon sleeps) and re-reads it when it changed; SIGHUP
// re-reads it unconditionally. A file that no longer loads leaves the last
// good config in force, and its error shows in status.
type configWatcher struct {
	path  string
	spath statPath // path, ready for the check's stat
	log   *slog.Logger
	now   func() time.Time
	apply func(*config.Config) // set before serving

	mu    sync.Mutex // serialises reloads
	state atomic.Pointer[configState]
}

// configState is the config in force and what was last seen on disk.
type configState struct {
	cfg      *config.Config
	loadedAt time.Time
	hash     string // short sha256 of the text in force; "" for no file

	seen fs.FileInfo // the file as last read; nil when it did not exist
	key  statKey     // seen, as check compares it
	racy bool        // seen's mtime was too recent to trust a same stat
	err  error       // why the file on disk is not the config in force
}

// newConfigWatcher loads path; an invalid file is an error here, since there
// is no last good config to keep yet.
func newConfigWatcher(path string, log *slog.Logger) (*configWatcher, error) {
	w := &configWatcher{path: path, spath: newStatPath(path), log: log, now: time.Now}
	fi, b, err := w.read()
	if err != nil {
		return nil, err
	}
	cfg, err := config.Parse(path, b)
	if err != nil {
		return nil, err
	}
	w.state.Store(w.loaded(cfg, fi, b))
	return w, nil
}

// config is the config in force.
func (w *configWatcher) config() *config.Config { return w.state.Load().cfg }

// read stats, then reads the file: a change between the two shows as a new
// stat at the next check, so it is never missed.
func (w *configWatcher) read() (fs.FileInfo, []byte, error) {
	fi, err := os.Stat(w.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	b, err := os.ReadFile(w.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	return fi, b, err
}

func (w *configWatcher) loaded(cfg *config.Config, fi fs.FileInfo, b []byte) *configState {
	st := &configState{cfg: cfg, loadedAt: w.now(), seen: fi, key: fileKey(fi)}
	if fi != nil {
		sum := sha256.Sum256(b)
		st.hash = hex.EncodeToString(sum[:6])
		st.racy = w.now().Sub(fi.ModTime()) < racyWindow
	}
	return st
}

// check reloads the file if it changed since it was last read. It runs
// before every call, so it allocates nothing: one stat.
func (w *configWatcher) check() {
	st := w.state.Load()
	k, ok := statKeyOf(w.spath)
	if !ok {
		return // unreadable for now: keep what is in force
	}
	if k.same(st.key) && !st.racy {
		return
	}
	w.reload(false)
}

// statKey is what check compares of two stats of the file: the same
// identity (device and inode), size and modification time.
type statKey struct {
	exists   bool
	dev, ino uint64
	size     int64
	mtime    int64       // ns since the epoch
	fi       fs.FileInfo // identity where there is no device and inode (not Linux)
}

func (a statKey) same(b statKey) bool {
	if !a.exists || !b.exists {
		return a.exists == b.exists
	}
	if a.fi != nil && b.fi != nil && !os.SameFile(a.fi, b.fi) {
		return false
	}
	return a.dev == b.dev && a.ino == b.ino && a.size == b.size && a.mtime == b.mtime
}

// reload re-reads the file; unless forced, an unchanged text (same hash)
// keeps its load time.
func (w *configWatcher) reload(force bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	old := w.state.Load()
	fi, b, err := w.read()
	if err != nil {
		w.keep(old, fi, err)
		return
	}
	next := w.loaded(nil, fi, b)
	if !force && next.hash == old.hash && old.err == nil {
		// The same text: only the stamp moved (or it was racy).
		same := *old
		same.seen, same.key, same.racy = fi, next.key, next.racy
		w.state.Store(&same)
		return
	}
	cfg, err := config.Parse(w.path, b)
	if err != nil {
		w.keep(old, fi, err)
		return
	}
	next.cfg = cfg
	if w.apply != nil {
		w.apply(cfg)
	}
	w.state.Store(next)
	if next.hash != old.hash || old.err != nil {
		w.log.Info("config reloaded", "path", w.path, "sha256", next.hash)
	}
}

// keep leaves the last good config in force and records why the file on
// disk is not it.
func (w *configWatcher) keep(old *configState, fi fs.FileInfo, err error) {
	kept := *old
	kept.seen, kept.key, kept.racy, kept.err = fi, fileKey(fi), fi != nil && w.now().Sub(fi.ModTime()) < racyWindow, err
	w.state.Store(&kept)
	if old.err == nil || old.err.Error() != err.Error() {
		w.log.Warn("config not reloaded; the last good config stays in force", "path", w.path, "err", err)
	}
}

// status reports the config in force, for hfbroker status.
func (w *configWatcher) status() server.ConfigState {
	st := w.state.Load()
	return server.ConfigState{Path: w.path, LoadedAt: st.loadedAt, Hash: st.hash, Err: st.err}
}

// unary checks the config before each call, gRPC and lane alike.
func (w *configWatcher) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	w.check()
	return handler(ctx, req)
}
