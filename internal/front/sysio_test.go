//go:build unix

package front

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestArgsAndExecutableAreOss(t *testing.T) {
	// Elsewhere they are os's own.
	args, err := Args()
	if err != nil || !slices.Equal(args, os.Args) {
		t.Errorf("Args() = %q, %v; os.Args = %q", args, err, os.Args)
	}
	self, err := executable()
	want, werr := os.Executable()
	if err != nil || werr != nil || self != want {
		t.Errorf("executable() = %q, %v; os.Executable() = %q, %v", self, err, want, werr)
	}
}

func TestStdinCopyReadsFromItsStart(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	b := make([]byte, 70000)
	for i := range b {
		b[i] = byte(i)
	}
	fd, err := stdinCopy(b)
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil || st.Nlink != 0 || st.Mode&0o777 != 0o600 {
		t.Errorf("the copy: %v, %d links, mode %o; want an unlinked file only we may read", err, st.Nlink, st.Mode&0o777)
	}
	f := os.NewFile(uintptr(fd), "copy")
	defer f.Close()
	got := make([]byte, len(b)+1)
	n, _ := f.Read(got)
	for n < len(b) {
		m, err := f.Read(got[n:])
		if err != nil {
			break
		}
		n += m
	}
	if !slices.Equal(got[:n], b) {
		t.Errorf("read %d bytes back, want the %d written", n, len(b))
	}
}

// An upgrade in place removes the running binary: the front still looks
// for the full CLI beside the path it ran from, as os.Executable does
// (the kernel's link then ends in " (deleted)").
func TestExecutableOfARemovedBinaryIsItsPath(t *testing.T) {
	if os.Getenv("HFBROKER_FRONT_TEST_EXECUTABLE") == "1" {
		os.Remove(os.Args[0])
		self, err := executable()
		if err != nil {
			t.Fatal(err)
		}
		os.Stdout.WriteString(self + "\n")
		return
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), "front.test")
	if err := os.WriteFile(copyPath, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(copyPath, "-test.run", "^TestExecutableOfARemovedBinaryIsItsPath$")
	cmd.Env = append(os.Environ(), "HFBROKER_FRONT_TEST_EXECUTABLE=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if _, err := os.Stat(copyPath); err == nil {
		t.Fatal("the copy was not removed: the test tests nothing")
	}
	if got := strings.SplitN(string(out), "\n", 2)[0]; got != copyPath {
		t.Errorf("executable() of a removed binary = %q, want %q", got, copyPath)
	}
}
