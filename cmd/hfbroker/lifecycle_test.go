//go:build unix

package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
	extraCmds["activate-daemon"] = cmdActivateDaemon
	extraCmds["wait-exit"] = cmdWaitExit
}

// activate-daemon: start hfbrokerd as systemd's socket activation would: the
// listening socket is bound here and handed over as fd 3, with LISTEN_FDS=1
// and LISTEN_PID set to the daemon's own pid (sh's $$, kept across exec).
func cmdActivateDaemon(ts *testscript.TestScript, neg bool, args []string) {
	sock := ts.Getenv("HFBROKER_SOCKET")
	l, err := net.Listen("unix", sock)
	ts.Check(err)
	ul := l.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	f, err := ul.File()
	ts.Check(err)
	ul.Close()
	bin, err := exec.LookPath("hfbrokerd")
	if err != nil {
		// LookPath uses our PATH; the script's has the command directory.
		for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
			if p := filepath.Join(dir, "hfbrokerd"); fileExists(p) {
				bin, err = p, nil
				break
			}
		}
	}
	ts.Check(err)
	cmd := exec.Command("sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" run`, bin)
	cmd.ExtraFiles = []*os.File{f}
	cmd.Env = append(scriptEnv(ts), "HFBROKER_SOCKET=/nonexistent/not-used.sock")
	logf, err := os.Create(ts.MkAbs("activated.log"))
	ts.Check(err)
	cmd.Stdout, cmd.Stderr = logf, logf
	ts.Check(cmd.Start())
	f.Close()
	logf.Close()
	ts.Setenv("ACTIVATED_PID", strconv.Itoa(cmd.Process.Pid))
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }() // reap it, so wait-exit sees it gone
	ts.Defer(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		<-exited
	})
}

func scriptEnv(ts *testscript.TestScript) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "HF_ENDPOINT", "HFBROKER_BACKEND", "HFBROKER_KEYCHAIN_SERVICE", "DBUS_SESSION_BUS_ADDRESS", "TMPDIR", "GOCOVERDIR"} {
		if v := ts.Getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// wait-exit PID [SECONDS]: the process exits within the time (default 10 s).
func cmdWaitExit(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 {
		ts.Fatalf("usage: wait-exit PID [SECONDS]")
	}
	pid, err := strconv.Atoi(args[0])
	ts.Check(err)
	limit := 10 * time.Second
	if len(args) == 2 {
		s, err := strconv.Atoi(args[1])
		ts.Check(err)
		limit = time.Duration(s) * time.Second
	}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil || isZombie(pid) {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	ts.Fatalf("process %d still running after %s", pid, limit)
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	for i := len(b) - 1; i > 0; i-- {
		if b[i] == ')' && i+2 < len(b) {
			return b[i+2] == 'Z'
		}
	}
	return false
}
