package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for Options.
const (
	DefaultMaxBytes = 10 << 20
	DefaultKeep     = 3
)

// Options tune a Log.
type Options struct {
	// MaxBytes is the size at which the file is rotated; 0 means
	// DefaultMaxBytes. All files together stay under (Keep+1)*MaxBytes.
	MaxBytes int64
	// Keep is how many rotated files (audit.jsonl.1 … .Keep) are kept; 0
	// means DefaultKeep.
	Keep int
	// Now stamps events whose Time is zero; nil means time.Now.
	Now func() time.Time
}

// Log appends events to a JSONL file, one line per event, and rotates it by
// size. It is safe for concurrent use within one process; the daemon's
// single-instance lock is what keeps a second process from rotating under it.
type Log struct {
	path     string
	opts     Options
	redacted atomic.Int64

	mu   sync.Mutex
	f    *os.File
	size int64
	buf  []byte // writeLines' buffer
}

var _ Sink = (*Log)(nil)

// Open opens or creates the log at path (0600, in a 0700 directory). A line
// torn by a crash during the last write is cut off, so the next event starts
// on a line of its own.
func Open(path string, opts Options) (*Log, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.Keep <= 0 {
		opts.Keep = DefaultKeep
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create audit directory: %w", err)
	}
	l := &Log{path: path, opts: opts}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Log) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open audit log: %w", err)
	}
	// An older or hand-made file may be wider; the log says who used which
	// token where, which other users need not know.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("restrict audit log: %w", err)
	}
	size, err := cutTornLine(f, l.path)
	if err != nil {
		f.Close()
		return err
	}
	l.f, l.size = f, size
	return nil
}

// cutTornLine truncates a final line without its newline and returns the
// resulting size.
func cutTornLine(f *os.File, path string) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat audit log: %w", err)
	}
	size := fi.Size()
	if size == 0 {
		return 0, nil
	}
	r, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("read audit log: %w", err)
	}
	defer r.Close()
	// Look back at most one maximal line for the last newline.
	start := max(size-MaxLineBytes-1, 0)
	buf := make([]byte, size-start)
	if _, err := r.ReadAt(buf, start); err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("read audit log: %w", err)
	}
	if buf[len(buf)-1] == '\n' {
		return size, nil
	}
	i := bytes.LastIndexByte(buf, '\n')
	if i < 0 && start > 0 {
		return 0, fmt.Errorf("audit log %s ends with an unterminated line longer than %d bytes; move it aside", path, MaxLineBytes)
	}
	keep := start + int64(i+1)
	if err := f.Truncate(keep); err != nil {
		return 0, fmt.Errorf("cut torn line from audit log: %w", err)
	}
	return keep, nil
}

// Write appends ev as one line, stamping Time when it is zero. Text shaped
// like a token is cut out of it, and counted (Redacted).
func (l *Log) Write(ev Event) error {
	// The line is encoded into a buffer that the next Write reuses: one
	// write per lease grant, and it allocated a line each (issue 16).
	bp := lineBufs.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 4<<10 {
			lineBufs.Put(bp)
		}
	}()
	line, redacted, err := encodeAppend(*bp, &ev, l.opts.Now)
	*bp = line
	if redacted {
		l.redacted.Add(1)
	}
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return fmt.Errorf("write audit event: %w", fs.ErrClosed)
	}
	if l.size > 0 && l.size+int64(len(line)) > l.opts.MaxBytes {
		if err := l.rotate(); err != nil {
			return err
		}
	}
	// One write per line on an O_APPEND file: a crash leaves at most one torn
	// line at the end, which Open cuts and Read skips.
	n, err := l.f.Write(line)
	l.size += int64(n)
	if err != nil {
		return fmt.Errorf("write audit event: %w", err)
	}
	return nil
}

// lineBufs holds Write's line buffers.
var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// WriteAll appends evs as Write would, each redacted or refused on its own merits, with
// one write per 16 KiB of lines rather than one per event: the reaper ends
// leases in batches under load (issue 16), and each write is a system call.
func (l *Log) WriteAll(evs []Event) error {
	lines := make([][]byte, 0, len(evs))
	var errs []error
	for _, ev := range evs {
		line, redacted, err := encode(&ev, l.opts.Now)
		if redacted {
			l.redacted.Add(1)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		lines = append(lines, line)
	}
	// A chunk at a time, each under the lock for one write: the lines of a
	// process that held 20,000 leases neither sit in one buffer of
	// megabytes nor hold up, for milliseconds, the grants waiting to
	// write theirs.
	for len(lines) > 0 {
		n, size := 0, 0
		for n < len(lines) && (n == 0 || size+len(lines[n]) <= writeAllChunk) {
			size += len(lines[n])
			n++
		}
		if err := l.writeLines(lines[:n]); err != nil {
			return errors.Join(append(errs, err)...)
		}
		lines = lines[n:]
	}
	return errors.Join(errs...)
}

// writeLines appends lines with one write, unless the file must rotate
// between two of them, as a Write per line would.
func (l *Log) writeLines(lines [][]byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return fmt.Errorf("write audit event: %w", fs.ErrClosed)
	}
	buf := l.buf[:0] // reused from one call to the next, under l.mu
	defer func() {
		if cap(buf) <= 2*writeAllChunk {
			l.buf = buf[:0]
		}
	}()
	for _, line := range lines {
		if pending := l.size + int64(len(buf)); pending > 0 && pending+int64(len(line)) > l.opts.MaxBytes {
			if err := l.appendLocked(buf); err != nil {
				return err
			}
			buf = buf[:0]
			if err := l.rotate(); err != nil {
				return err
			}
		}
		buf = append(buf, line...)
	}
	return l.appendLocked(buf)
}

// writeAllChunk bounds one write of WriteAll.
const writeAllChunk = 16 << 10

// appendLocked writes whole lines in one write on the O_APPEND file: a
// crash leaves at most one torn line at the end, which Open cuts and Read
// skips. Called with l.mu held.
func (l *Log) appendLocked(lines []byte) error {
	if len(lines) == 0 {
		return nil
	}
	n, err := l.f.Write(lines)
	l.size += int64(n)
	if err != nil {
		return fmt.Errorf("write audit event: %w", err)
	}
	return nil
}

// Redacted reports how many events held text shaped like a token, which
// was cut out (or, when that was not enough, the event refused).
func (l *Log) Redacted() int64 { return l.redacted.Load() }

// rotate shifts audit.jsonl.N to .N+1, dropping .Keep, moves the current file
// to .1 and starts a new one. Called with l.mu held.
func (l *Log) rotate() error {
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("close audit log for rotation: %w", err)
	}
	l.f = nil
	if err := os.Remove(rotated(l.path, l.opts.Keep)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("rotate audit log: %w", err)
	}
	for n := l.opts.Keep - 1; n >= 1; n-- {
		if err := os.Rename(rotated(l.path, n), rotated(l.path, n+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rotate audit log: %w", err)
		}
	}
	if err := os.Rename(l.path, rotated(l.path, 1)); err != nil {
		return fmt.Errorf("rotate audit log: %w", err)
	}
	return l.open()
}

func rotated(path string, n int) string { return path + "." + strconv.Itoa(n) }

// Close closes the file. Later Writes fail with fs.ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	if err != nil {
		return fmt.Errorf("close audit log: %w", err)
	}
	return nil
}

// maxRotated bounds how far Read looks for rotated files.
const maxRotated = 1000

// Filter selects events; a zero field selects everything.
type Filter struct {
	Since   time.Time // at or after
	Until   time.Time // before
	Profile string
	Repo    string // as events hold it: "acme/llm", "datasets/acme/data"
}

// Match reports whether ev passes f.
func (f Filter) Match(ev Event) bool {
	switch {
	case !f.Since.IsZero() && ev.Time.Before(f.Since):
		return false
	case !f.Until.IsZero() && !ev.Time.Before(f.Until):
		return false
	case f.Profile != "" && ev.Profile != f.Profile:
		return false
	case f.Repo != "" && ev.Repo != f.Repo:
		return false
	}
	return true
}

// Read returns the events at or after since (all when since is zero); see
// ReadMatching.
func Read(path string, since time.Time) ([]Event, error) {
	return ReadMatching(path, Filter{Since: since})
}

// ReadMatching returns the events that pass f from the rotated files, oldest
// first, then the current one. A missing log reads as empty. A torn last
// line in a file (a write in progress, or a crash) is skipped; any other line
// that is not an event is an error naming the file and line, since an audit
// log that does not parse should not be trusted quietly. Reading while the
// log rotates may miss or repeat events.
func ReadMatching(path string, f Filter) ([]Event, error) {
	last := 0
	for last < maxRotated {
		if _, err := os.Stat(rotated(path, last+1)); err != nil {
			break
		}
		last++
	}
	var events []Event
	for n := last; n >= 0; n-- {
		p := path
		if n > 0 {
			p = rotated(path, n)
		}
		evs, err := readFile(p, f)
		if err != nil {
			return nil, err
		}
		events = append(events, evs...)
	}
	return events, nil
}

func readFile(path string, filter Filter) ([]Event, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	defer f.Close()
	var events []Event
	r := bufio.NewReader(f)
	for lineNo := 1; ; lineNo++ {
		line, err := readLine(r)
		if errors.Is(err, io.EOF) {
			// Whatever is left has no newline: a torn or in-progress write,
			// skipped whatever it holds.
			return events, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s line %d: %w", path, lineNo, err)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var ev Event
		if err := json.Unmarshal(line, &ev); err != nil {
			// The error text of encoding/json can quote input; keep it out.
			return nil, fmt.Errorf("read %s line %d: not an audit event", path, lineNo)
		}
		if filter.Match(ev) {
			events = append(events, ev)
		}
	}
}

var errLineTooLong = errors.New("line too long")

// readLine returns one newline-terminated line without the newline, or the
// unterminated rest with io.EOF. Lines are bounded so a corrupt file cannot
// exhaust memory.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > 4*MaxLineBytes {
			return nil, errLineTooLong
		}
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return line, err
		}
	}
}
