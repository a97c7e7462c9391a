//go:build linux

package runenv

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY returns a pseudo-terminal's master and its slave's path.
func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	return m, "/dev/pts/" + strconv.Itoa(n)
}

// Security notes §5 item 35: a child trapping SIGINT gets a terminal's Ctrl-C
// exactly once. The terminal signals hfbroker's whole foreground process
// group, the child included, so hfbroker must not pass it on as well.
func TestSuperviseDoesNotRepeatATerminalCtrlC(t *testing.T) {
	master, slavePath := openPTY(t)
	slave, err := os.OpenFile(slavePath, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The trap lingers before exiting: the Ctrl-C reaches hfbroker and the
	// child at once, and hfbroker must get to see it (and decide not to pass
	// it on) while the child still lives, or there is nothing to check.
	cmd := exec.Command(os.Args[0], "sh", "-c", "trap 'echo got INT; sleep 0.5; exit 9' INT; echo ready; "+loop)
	cmd.Env = append(os.Environ(), helperEnv+"=supervise")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	// A new session whose controlling terminal is the pty: the helper's
	// process group becomes the terminal's foreground group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})

	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(master)
		for sc.Scan() { // ends with EIO once the terminal's last user exits
			// The terminal echoes the Ctrl-C as "^C" before what follows.
			lines <- strings.TrimPrefix(strings.TrimRight(sc.Text(), "\r"), "^C")
		}
	}()
	var all []string
	deadline := time.After(testDeadline)
	sent := false
	for done := false; !done; {
		select {
		case line, ok := <-lines:
			if !ok {
				done = true
				break
			}
			all = append(all, line)
			if line == "ready" && !sent {
				sent = true
				master.Write([]byte{0x03}) // Ctrl-C, as typed
			}
		case <-deadline:
			t.Fatalf("no exit after Ctrl-C; output %q", all)
		}
	}
	cmd.Wait()
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.ExitStatus() != 9 {
		t.Errorf("exit %v, want the trap's 9; output %q", ws, all)
	}
	count := func(s string) (n int) {
		for _, l := range all {
			if l == s {
				n++
			}
		}
		return n
	}
	if n := count("got INT"); n != 1 {
		t.Errorf("the child saw Ctrl-C %d times, want once; output %q", n, all)
	}
	if n := count(`helper: signal "interrupt" forwarded=false`); n != 1 {
		t.Errorf("hfbroker should have seen the Ctrl-C once and not passed it on; output %q", all)
	}
}
