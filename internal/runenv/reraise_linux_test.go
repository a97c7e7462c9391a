//go:build linux

package runenv

import (
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/hfbroker/hfbroker/internal/testutil"
)

// Reraise ends hfbroker by the signal that killed its child, so that a
// shell sees the death exec without --mask shows.
func TestReraiseDiesOfTheChildsSignal(t *testing.T) {
	h := startHelper(t, "supervise", []string{"RUNENV_TEST_RERAISE=1"}, "sh", "-c", "echo ready; kill -TERM $$")
	h.waitFor(t, "ready")
	ws := h.finish(t)
	if !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("hfbroker %v, want killed by SIGTERM; output %q", ws, h.all)
	}
}

// The first process of a pid namespace (`docker run … hfbroker exec --mask`)
// cannot die of a signal it sends itself: the kernel drops it, and the Go
// runtime, still alive, exits 2. There the child's 128+N is the status.
func TestReraiseAsAContainersFirstProcessExits128PlusN(t *testing.T) {
	testutil.RequireRoot(t, "to start a pid namespace")
	cmd := exec.Command(os.Args[0], "sh", "-c", "kill -TERM $$")
	cmd.Env = append(os.Environ(), helperEnv+"=supervise", "RUNENV_TEST_RERAISE=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil {
		t.Fatalf("start the helper in a pid namespace: %v", err)
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() || ws.ExitStatus() != 143 {
		t.Errorf("hfbroker as pid 1: %v, want exit 143; output %q", ws, out)
	}
}
