//go:build unix && !linux

package front

import (
	"io"
	"os"
)

// Elsewhere than Linux the front links os: its start-up is measured, and
// held to the floor, on Linux (docs/BENCHMARKS.md).

// Args is os.Args.
func Args() ([]string, error) { return os.Args, nil }

func executable() (string, error) { return os.Executable() }

// stdinCopy returns a descriptor that reads b from its start: an unlinked
// temporary file.
func stdinCopy(b []byte) (int, error) {
	t, err := os.CreateTemp("", "hfbroker-stdin-")
	if err != nil {
		return -1, err
	}
	defer t.Close()
	os.Remove(t.Name())
	if _, err := t.Write(b); err != nil {
		return -1, err
	}
	if _, err := t.Seek(0, io.SeekStart); err != nil {
		return -1, err
	}
	return dup(int(t.Fd()))
}
