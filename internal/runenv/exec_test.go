//go:build !windows

package runenv

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// runExecHelper runs the test binary as an hfbroker that Execs args, and
// returns its pid, stdout, stderr and wait status.
func runExecHelper(t *testing.T, env []string, args ...string) (pid int, stdout, stderr string, ws syscall.WaitStatus) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append([]string{}, env...), helperEnv+"=exec")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	return cmd.Process.Pid, out.String(), errb.String(), cmd.ProcessState.Sys().(syscall.WaitStatus)
}

func TestExecReplacesTheProcess(t *testing.T) {
	path := "PATH=" + os.Getenv("PATH")
	t.Run("the child keeps hfbroker's pid and its exit code", func(t *testing.T) {
		pid, out, errs, ws := runExecHelper(t, []string{path}, "sh", "-c", "echo $$; exit 42")
		if ws.ExitStatus() != 42 {
			t.Fatalf("status %v, want exit 42; stderr %q", ws, errs)
		}
		if got := strings.TrimSpace(out); got != strconv.Itoa(pid) {
			t.Errorf("child pid %s, want hfbroker's pid %d", got, pid)
		}
	})
	t.Run("a child killed by SIGTERM is seen as killed by SIGTERM", func(t *testing.T) {
		_, _, errs, ws := runExecHelper(t, []string{path}, "sh", "-c", "kill -TERM $$")
		if !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
			t.Fatalf("status %v, want death by SIGTERM; stderr %q", ws, errs)
		}
	})
	t.Run("the child gets exactly the environment given", func(t *testing.T) {
		_, out, errs, ws := runExecHelper(t, []string{path, "HF_TOKEN=" + testToken, "X=1"}, "env")
		if ws.ExitStatus() != 0 {
			t.Fatalf("status %v; stderr %q", ws, errs)
		}
		want := path + "\nHF_TOKEN=" + testToken + "\nX=1\n"
		if out != want {
			t.Errorf("child env %q, want %q", out, want)
		}
	})
	t.Run("a missing command exits 127 with one line", func(t *testing.T) {
		_, _, errs, ws := runExecHelper(t, []string{path}, "no-such-command-hfb")
		if ws.ExitStatus() != 127 || errs != "hfbroker: error: command not found: no-such-command-hfb\n" {
			t.Errorf("status %v, stderr %q", ws, errs)
		}
	})
}

func TestExecReportsAFileThatCannotBeExecuted(t *testing.T) {
	// Resolve catches this first in hfbroker; Exec must still classify the
	// execve failure if the file changes in between.
	dir := t.TempDir()
	f := dir + "/noexec"
	os.WriteFile(f, []byte("not a program"), 0o755)
	err := Exec(f, nil, nil) // ENOEXEC: returns instead of replacing the test
	ce, ok := err.(*CommandError)
	if !ok || ce.ExitCode() != 126 {
		t.Fatalf("Exec(non-program) = %v, want a *CommandError 126", err)
	}
	err = Exec(dir+"/missing", nil, nil)
	if ce, ok := err.(*CommandError); !ok || ce.ExitCode() != 127 {
		t.Fatalf("Exec(missing) = %v, want a *CommandError 127", err)
	}
}
