//go:build !windows

package client

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Issue 19: the autostarted daemon kept every descriptor hfbroker had
// inherited without close-on-exec, such as the terminal testscript's ttyin
// passes on fd 3 or a pipe a parent reads until EOF: the terminal never
// closed and `hfbroker login` on a pty hung until the daemon exited.
func TestAutostartedDaemonDoesNotInheritTheStartersDescriptors(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	fd := int(w.Fd())
	// As if inherited: no close-on-exec.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
		t.Fatal(err)
	}
	probe := func(start func(*exec.Cmd) error) string {
		var out bytes.Buffer
		cmd := exec.Command("/bin/sh", "-c", fmt.Sprintf("if { true >&%d; } 2>/dev/null; then echo inherited; else echo closed; fi", fd))
		cmd.Stdout = &out
		if err := start(cmd); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out.String())
	}
	if got := probe(func(c *exec.Cmd) error { return c.Start() }); got != "inherited" {
		t.Fatalf("a plain Start: the child saw the descriptor as %q; the test does not set up what it means to", got)
	}
	if got := probe(func(c *exec.Cmd) error { return startWithoutInheritedFds(c.Start) }); got != "closed" {
		t.Errorf("startWithoutInheritedFds: the child got the starter's descriptor (%s)", got)
	}
	// hfbroker itself keeps it as it was, for `hfbroker exec`'s command.
	if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC != 0 {
		t.Errorf("the descriptor's flags were not restored: %#x, %v", flags, err)
	}
}
