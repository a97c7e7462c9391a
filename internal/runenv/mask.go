package runenv

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"sync"
)

// DefaultReplacement is what Supervise writes in place of a masked secret. It
// keeps the hf_ prefix so a reader still sees that a token was there.
const DefaultReplacement = "hf_***"

// ErrClosed is returned by a MaskWriter's Write after Close.
var ErrClosed = errors.New("mask writer is closed")

// MaskWriter is a streaming filter that replaces every occurrence of each
// secret with a replacement before the bytes reach the underlying writer,
// also when a secret arrives split across many Writes (a child printing its
// token one byte at a time).
//
// It holds back only a tail that is a proper prefix of some secret, so at
// most len(longest secret)-1 bytes; everything that cannot be the start of a
// secret is written through at once, partial lines included, so prompts and
// progress bars are not delayed. Where secrets overlap, the longest one that
// matches at the leftmost position wins, as strings.NewReplacer does with its
// pairs ordered longest first.
//
// A MaskWriter is safe for concurrent use. Close flushes; it does not close
// the underlying writer, which is usually the caller's os.Stdout.
type MaskWriter struct {
	mu      sync.Mutex
	w       io.Writer
	secrets [][]byte // longest first
	first   [256]bool
	repl    []byte
	pending []byte // held back: a proper prefix of some secret
	out     []byte // scratch for one Write's output
	err     error  // sticky error from w, or ErrClosed
}

// NewMaskWriter returns a MaskWriter writing to w. Empty secrets and
// duplicates are ignored; with no secrets left it passes bytes through.
func NewMaskWriter(w io.Writer, secrets []string, repl string) *MaskWriter {
	m := &MaskWriter{w: w, repl: []byte(repl)}
	seen := make(map[string]bool)
	for _, s := range secrets {
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		m.secrets = append(m.secrets, []byte(s))
		m.first[s[0]] = true
	}
	// Longest first, then lexical, so that the choice at a position is
	// deterministic and prefers the longest match.
	slices.SortFunc(m.secrets, func(a, b []byte) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return bytes.Compare(a, b)
	})
	return m
}

// Write filters p and writes what can be decided to the underlying writer.
// It reports len(p) when p was consumed, even if part of it is held back.
func (m *MaskWriter) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return 0, m.err
	}
	if err := m.process(p, false); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes out what is held back, deciding as if the input had ended
// here. Call it when the writing side is done (the child exited); flushing in
// the middle of a stream lets a secret split across the flush point through.
func (m *MaskWriter) Flush() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		if errors.Is(m.err, ErrClosed) {
			return nil
		}
		return m.err
	}
	return m.process(nil, true)
}

// Close flushes and makes later Writes fail with ErrClosed. It does not close
// the underlying writer.
func (m *MaskWriter) Close() error {
	err := m.Flush()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err == nil {
		m.err = ErrClosed
	}
	return err
}

// process scans pending+p and writes every decided byte. With final set no
// more input will come, so nothing is held back.
func (m *MaskWriter) process(p []byte, final bool) error {
	if len(m.secrets) == 0 {
		if len(p) == 0 {
			return nil
		}
		return m.emit(p)
	}
	data := p
	if len(m.pending) > 0 {
		// pending is short (< longest secret), so this copy is bounded by
		// len(p) plus that.
		data = append(m.pending, p...)
	}
	out := m.out[:0]
	i, runStart := 0, 0
	for i < len(data) {
		if !m.first[data[i]] {
			i++
			continue
		}
		match, undecided := m.matchAt(data[i:], final)
		if undecided {
			break
		}
		if match == 0 {
			i++
			continue
		}
		out = append(out, data[runStart:i]...)
		out = append(out, m.repl...)
		i += match
		runStart = i
	}
	out = append(out, data[runStart:i]...)
	// Keep the undecided tail in pending's own storage; data may alias it.
	rest := data[i:]
	m.pending = append(m.pending[:0], rest...)
	m.out = out[:0]
	// One large Write must not pin a large buffer for the writer's lifetime.
	if cap(m.pending) > 4096+len(m.secrets[0]) {
		m.pending = slices.Clone(m.pending)
	}
	if cap(m.out) > 64<<10 {
		m.out = nil
	}
	if len(out) == 0 {
		return nil
	}
	return m.emit(out)
}

// matchAt reports the length of the longest secret at the start of tail (0
// for none), or undecided when a longer secret than any full match could
// still complete with more input.
func (m *MaskWriter) matchAt(tail []byte, final bool) (match int, undecided bool) {
	for _, s := range m.secrets { // longest first
		if len(tail) >= len(s) {
			if bytes.Equal(tail[:len(s)], s) {
				return len(s), false
			}
			continue
		}
		if !final && bytes.HasPrefix(s, tail) {
			return 0, true
		}
	}
	return 0, false
}

func (m *MaskWriter) emit(b []byte) error {
	if _, err := m.w.Write(b); err != nil {
		m.err = err
		return err
	}
	return nil
}
