package osproc

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestReadProcReadsWhatReadFileReads: readProc, which reads /proc without
// os.File, returns the same bytes as os.ReadFile, for a file shorter than
// its first buffer (cmdline) and for one that makes it grow (environ), and says "not exist"
// for a process that is gone.
func TestReadProcReadsWhatReadFileReads(t *testing.T) {
	// A child whose environment is far longer than readProc's first 512
	// bytes, and that does not change while both read it.
	cmd := exec.Command("sleep", "60")
	cmd.Env = append(os.Environ(), "HFBROKER_TEST_PAD="+strings.Repeat("p", 70_000))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	dir := "/proc/" + itoa(cmd.Process.Pid)
	// /stat moves (times, state) while the child starts: its "pid (comm)"
	// head does not.
	if stat, err := readProc(dir + "/stat"); err != nil || !bytes.HasPrefix(stat, []byte(itoa(cmd.Process.Pid)+" (sleep) ")) {
		t.Errorf("readProc(/stat) = %q, %v", stat, err)
	}
	for _, name := range []string{"/environ", "/cmdline"} {
		want, err := os.ReadFile(dir + name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := readProc(dir + name)
		if err != nil {
			t.Fatalf("readProc(%s): %v", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("readProc(%s) read %d bytes, os.ReadFile %d, or other bytes", name, len(got), len(want))
		}
	}
	if _, err := readProc("/proc/self/no-such-file"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("readProc of a missing file: %v, want fs.ErrNotExist", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
