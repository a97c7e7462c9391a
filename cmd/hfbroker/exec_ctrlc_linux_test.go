//go:build linux

package main

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

// TestExecMaskCtrlCStopsTheCallingScript: a Ctrl-C typed at a bash script
// that runs `hfbroker exec --mask` in a loop stops the script, as it does
// without --mask. The terminal's SIGINT reaches the whole foreground group:
// the command dies of it, and bash, which got it too, waits for hfbroker and
// stops the script only if hfbroker died of SIGINT as well; an exit 130
// tells bash the command handled the Ctrl-C, and the loop ran on with the
// next job.
func TestExecMaskCtrlCStopsTheCallingScript(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatalf("bash is needed by this test (CI installs it): %v", err)
	}
	w := newExecWorld(t)
	master, slavePath := openPTY(t)
	slave, err := os.OpenFile(slavePath, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	script := `for i in 1 2 3; do hfbroker exec --mask -- sh -c 'echo ready; exec sleep 300'; echo "after job $i: $?"; done; echo "loop finished"`
	cmd := exec.Command(bash, "-c", script)
	cmd.Env = w.env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	// A new session whose controlling terminal is the pty: bash's process
	// group, which hfbroker and its command join, is its foreground group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
		}
	})

	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(master)
		for sc.Scan() { // ends with EIO once the terminal's last user exits
			lines <- strings.TrimPrefix(strings.TrimRight(sc.Text(), "\r"), "^C")
		}
	}()
	var all []string
	deadline := time.After(execDeadline)
	sent := false
	for done := false; !done; {
		select {
		case line, ok := <-lines:
			if !ok {
				done = true
				break
			}
			all = append(all, line)
			if strings.HasPrefix(line, "after job") {
				t.Fatalf("the script ran on after the Ctrl-C: %q", all)
			}
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
	if got := describe(ws); got != "killed by interrupt" {
		t.Errorf("bash: %s, want killed by interrupt; output %q", got, all)
	}
	for _, l := range all {
		if strings.Contains(l, w.token) {
			t.Errorf("the terminal showed the token")
		}
	}
}

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
