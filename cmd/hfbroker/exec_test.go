//go:build unix

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/hfbroker/hfbroker/internal/audit"
	"github.com/hfbroker/hfbroker/internal/client"
	"github.com/hfbroker/hfbroker/internal/hubtest"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// The exec tests run `hfbroker exec` as a user would: the real hfbroker and
// hfbrokerd binaries (testscript's copies of the test binary, on PATH) as
// separate processes, the command replacing hfbroker, the daemon watching
// the pid. The stories are in testdata/script/exec-*.txtar; what needs a
// wait status, a clock or /proc is here.

func init() {
	for name, cmd := range map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"wait-leases": cmdWaitLeases,
		"lease-id":    cmdLeaseID,
	} {
		extraCmds[name] = cmd
	}
}

// execDeadline only stops a broken test from hanging on a loaded machine;
// except where the issue names a bound, nothing asserts how fast anything was.
const execDeadline = 60 * time.Second

// liveLeases asks the daemon serving the socket in env for its live leases,
// without starting one.
func liveLeases(getenv func(string) string) ([]*pb.Lease, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Socket explicitly: Dial finds the default path from the process env.
	c, err := client.Dial(ctx, client.Options{Env: getenv, Socket: getenv("HFBROKER_SOCKET"), NoAutostart: true})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	resp, err := c.ListLeases(ctx, &pb.ListLeasesRequest{})
	if err != nil {
		return nil, err
	}
	return resp.GetLeases(), nil
}

// wait-leases N: wait until the daemon has exactly N live leases.
func cmdWaitLeases(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: wait-leases N")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	deadline := time.Now().Add(execDeadline)
	for {
		ls, err := liveLeases(ts.Getenv)
		ts.Check(err)
		if len(ls) == want {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%d live leases after %s, want %d", len(ls), execDeadline, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lease-id VAR: there is exactly one live lease; set $VAR to its id and
// $VAR_PID to the pid it lives with.
func cmdLeaseID(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: lease-id VAR")
	}
	ls, err := liveLeases(ts.Getenv)
	ts.Check(err)
	if len(ls) != 1 {
		ts.Fatalf("%d live leases, want 1", len(ls))
	}
	ts.Setenv(args[0], ls[0].GetId())
	ts.Setenv(args[0]+"_PID", strconv.Itoa(int(ls[0].GetPid())))
}

// execWorld is a fake Hub, a private HOME and socket, and a token stored
// through the real CLI (which autostarts the real daemon).
type execWorld struct {
	t     *testing.T
	hub   *hubtest.Hub
	token string
	home  string
	sock  string
	env   []string
}

func newExecWorld(t *testing.T) *execWorld {
	t.Helper()
	hub := hubtest.New(t)
	t.Cleanup(hub.Close)
	hub.AddUser("alice", "Alice Example")
	tok := hub.AddToken("alice", hubtest.TokenSpec{Role: "write", DisplayName: "laptop"})
	sockDir, err := os.MkdirTemp("", "hfbx") // short: sun_path is 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	w := &execWorld{t: t, hub: hub, token: tok, home: t.TempDir(), sock: filepath.Join(sockDir, "d.sock")}
	t.Cleanup(func() {
		stopDaemon(w.sock)
		os.RemoveAll(sockDir)
	})
	w.env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + w.home,
		"HFBROKER_SOCKET=" + w.sock,
		"HFBROKER_BACKEND=memory",
		"HF_ENDPOINT=" + hub.URL(),
		"LC_ALL=C",
	}
	if v := os.Getenv("GOCOVERDIR"); v != "" {
		w.env = append(w.env, "GOCOVERDIR="+v)
	}
	out, errOut, err := w.run(tok, "login")
	if err != nil {
		t.Fatalf("hfbroker login: %v\n%s", err, errOut)
	}
	if strings.Contains(out+errOut, tok) {
		t.Fatalf("hfbroker login printed the token")
	}
	return w
}

func (w *execWorld) getenv(k string) string {
	for i := len(w.env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(w.env[i], k+"="); ok {
			return v
		}
	}
	return ""
}

// command is hfbroker with args in the world's environment.
func (w *execWorld) command(args ...string) *exec.Cmd {
	cmd := exec.Command("hfbroker", args...)
	cmd.Env = w.env
	return cmd
}

// run runs hfbroker to completion.
func (w *execWorld) run(stdin string, args ...string) (stdout, stderr string, err error) {
	cmd := w.command(args...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func (w *execWorld) auditPath() string {
	return filepath.Join(w.home, ".local", "state", "hfbroker", "audit.jsonl")
}

func (w *execWorld) events() []audit.Event {
	w.t.Helper()
	evs, err := audit.Read(w.auditPath(), time.Time{})
	if err != nil {
		w.t.Fatalf("read the audit log: %v", err)
	}
	return evs
}

// leaseFor waits for the live lease of pid.
func (w *execWorld) leaseFor(pid int) *pb.Lease {
	w.t.Helper()
	deadline := time.Now().Add(execDeadline)
	for time.Now().Before(deadline) {
		ls, err := liveLeases(w.getenv)
		if err != nil {
			w.t.Fatal(err)
		}
		for _, l := range ls {
			if int(l.GetPid()) == pid {
				return l
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	w.t.Fatalf("no live lease for pid %d within %s", pid, execDeadline)
	return nil
}

// ended waits for the audit log's lease.ended event of lease id.
func (w *execWorld) ended(id string) audit.Event {
	w.t.Helper()
	deadline := time.Now().Add(execDeadline)
	for time.Now().Before(deadline) {
		for _, ev := range w.events() {
			if ev.Event == audit.LeaseEnded && ev.LeaseID == id {
				return ev
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	w.t.Fatalf("lease %s did not end within %s", id, execDeadline)
	return audit.Event{}
}

// isLive reports whether lease id is in the daemon's list.
func (w *execWorld) isLive(id string) bool {
	w.t.Helper()
	ls, err := liveLeases(w.getenv)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, l := range ls {
		if l.GetId() == id {
			return true
		}
	}
	return false
}

// noTokenInCmdlines fails if any process's command line holds tok: a
// token on a command line is readable by every local user.
func noTokenInCmdlines(t *testing.T, tok string) {
	t.Helper()
	paths, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 3 {
		t.Fatalf("only %d processes under /proc: is /proc mounted?", len(paths))
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // exited meanwhile
		}
		if bytes.Contains(b, []byte(tok)) {
			t.Errorf("%s holds the token: %q", p, strings.ReplaceAll(string(b), tok, "<TOKEN>"))
		}
	}
}

// waitStatus runs cmd and returns its wait status.
func waitStatus(t *testing.T, cmd *exec.Cmd) syscall.WaitStatus {
	t.Helper()
	err := cmd.Run()
	if cmd.ProcessState == nil {
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	return cmd.ProcessState.Sys().(syscall.WaitStatus)
}

func describe(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + ws.Signal().String()
	}
	return fmt.Sprintf("exit %d", ws.ExitStatus())
}

// TestExecPassesTheExitStatusThrough: the command's exit code, or its death
// by a signal, is what the caller of hfbroker exec sees. With --mask, where
// hfbroker stays as the parent, it dies of the signal that killed the command
// when it can (SIGHUP, SIGINT, SIGTERM, SIGKILL), and exits 128+N for the
// others, as a shell reports them.
func TestExecPassesTheExitStatusThrough(t *testing.T) {
	w := newExecWorld(t)
	dir := t.TempDir()
	notExec := filepath.Join(dir, "not-executable")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\nexit 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		cmd    []string
		code   int            // exit code, when sig is 0
		sig    syscall.Signal // death by signal (without --mask)
		masked int            // the code with --mask; -1: as without
	}{
		{"a command that succeeds gives 0", []string{"sh", "-c", "exit 0"}, 0, 0, 0},
		{"a command that fails gives 1", []string{"sh", "-c", "exit 1"}, 1, 0, 1},
		{"any other code comes back as is", []string{"sh", "-c", "exit 42"}, 42, 0, 42},
		{"a command's own 126 comes back", []string{"sh", "-c", "exit 126"}, 126, 0, 126},
		{"a command's own 127 comes back", []string{"sh", "-c", "exit 127"}, 127, 0, 127},
		{"a file that cannot be executed gives 126", []string{notExec}, 126, 0, 126},
		{"a command that is not found gives 127", []string{"no-such-command-hfbx"}, 127, 0, 127},
		{"death by SIGINT is death by SIGINT", []string{"sh", "-c", "kill -INT $$"}, 0, syscall.SIGINT, -1},
		{"death by SIGTERM is death by SIGTERM", []string{"sh", "-c", "kill -TERM $$"}, 0, syscall.SIGTERM, -1},
		{"death by SIGHUP is death by SIGHUP", []string{"sh", "-c", "kill -HUP $$"}, 0, syscall.SIGHUP, -1},
		{"death by SIGKILL is death by SIGKILL", []string{"sh", "-c", "kill -KILL $$"}, 0, syscall.SIGKILL, -1},
		// Go would turn a SIGQUIT of hfbroker's own into a goroutine dump.
		{"death by SIGQUIT is exit 131 with --mask", []string{"sh", "-c", "kill -QUIT $$"}, 0, syscall.SIGQUIT, 131},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, mask := range []bool{false, true} {
				args := []string{"exec"}
				if mask {
					args = append(args, "--mask")
				}
				args = append(append(args, "--"), tc.cmd...)
				cmd := w.command(args...)
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				ws := waitStatus(t, cmd)
				want := fmt.Sprintf("exit %d", tc.code)
				switch {
				case mask && tc.masked >= 0:
					want = fmt.Sprintf("exit %d", tc.masked)
				case tc.sig != 0:
					want = "killed by " + tc.sig.String()
				}
				if got := describe(ws); got != want {
					t.Errorf("hfbroker %s: %s, want %s; stderr %q", strings.Join(args, " "), got, want, stderr.String())
				}
				if strings.Contains(stdout.String()+stderr.String(), w.token) {
					t.Errorf("hfbroker %s printed the token", strings.Join(args, " "))
				}
			}
		})
	}
}

// TestExecSIGTERMEndsTheLease: SIGTERM to the process that hfbroker exec
// became ends it, and its lease ends within a second of its exit, in the
// daemon's list and in the audit log. While it runs, no process's command
// line holds the token.
func TestExecSIGTERMEndsTheLease(t *testing.T) {
	for _, mask := range []bool{false, true} {
		t.Run(fmt.Sprintf("mask=%v", mask), func(t *testing.T) {
			w := newExecWorld(t)
			args := []string{"exec", "--", "sleep", "300"}
			if mask {
				args = []string{"exec", "--mask", "--", "sleep", "300"}
			}
			cmd := w.command(args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill() })
			// Without --mask the lease lives with hfbroker's pid, which
			// is sleep's after the exec; with it, with the supervisor.
			l := w.leaseFor(cmd.Process.Pid)
			if l.GetPurpose() != pb.Purpose_PURPOSE_EXEC || l.GetProfile() != "laptop" {
				t.Errorf("lease %v: want an exec lease of profile laptop", l)
			}
			noTokenInCmdlines(t, w.token)

			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			exitedBy := time.Now()
			ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
			want := "killed by terminated" // with --mask too: hfbroker dies of it after sleep
			if got := describe(ws); got != want {
				t.Fatalf("after SIGTERM: %s (%v), want %s; stderr %q", got, err, want, stderr.String())
			}

			ev := w.ended(l.GetId())
			if lag := ev.Time.Sub(exitedBy); lag > time.Second {
				t.Errorf("lease %s ended %s after its process had exited, want within 1s", l.GetId(), lag)
			}
			if ev.Cause != "exit" || ev.PID != cmd.Process.Pid {
				t.Errorf("lease.ended %+v: want cause exit and pid %d", ev, cmd.Process.Pid)
			}
			if w.isLive(l.GetId()) {
				t.Errorf("lease %s is still listed after its lease.ended event", l.GetId())
			}
			if strings.Contains(stdout.String()+stderr.String(), w.token) {
				t.Errorf("hfbroker printed the token")
			}
		})
	}
}

// TestExecLeaseEndsAtItsTTL: a lease past its TTL ends while its command
// still runs.
func TestExecLeaseEndsAtItsTTL(t *testing.T) {
	w := newExecWorld(t)
	cmd := w.command("exec", "--ttl", "1s", "--", "sleep", "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })

	l := w.leaseFor(cmd.Process.Pid)
	granted, expires := l.GetGrantedAt().AsTime(), l.GetExpiresAt().AsTime()
	if d := expires.Sub(granted); d != time.Second {
		t.Errorf("lease TTL %s, want 1s", d)
	}
	ev := w.ended(l.GetId())
	if ev.Cause != "ttl" {
		t.Errorf("lease.ended cause %q, want ttl", ev.Cause)
	}
	if ev.Time.Before(expires) {
		t.Errorf("lease ended at %s, before it expired at %s", ev.Time, expires)
	}
	if w.isLive(l.GetId()) {
		t.Errorf("lease %s is still listed after it expired", l.GetId())
	}
	select {
	case <-done:
		t.Fatalf("the command exited (%v) before the test ended its lease; the test proves nothing", cmd.ProcessState)
	default:
	}
}

// TestExecInParallel: 200 hfbroker exec runs against one daemon, all in
// flight at once, all succeed, leave no live lease, and each has exactly one
// lease.granted and one lease.ended event in the audit log, with its pid and
// no token. Each command is `cat`, which the test holds open on its stdin
// until the daemon lists all 200 leases live, so the runs truly overlap
// (a `true` could finish before the next one starts), then releases.
func TestExecInParallel(t *testing.T) {
	const n = 200
	w := newExecWorld(t)
	type run struct {
		pid            int
		err            error
		stdout, stderr bytes.Buffer
	}
	runs := make([]*run, n)
	var wg sync.WaitGroup
	var stdins []io.Closer
	for i := range runs {
		r := &run{}
		runs[i] = r
		cmd := w.command("exec", "--", "cat")
		cmd.Stdout, cmd.Stderr = &r.stdout, &r.stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start run %d: %v", i, err)
		}
		stdins = append(stdins, in)
		r.pid = cmd.Process.Pid
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.err = cmd.Wait()
		}()
	}
	release := func() {
		for _, in := range stdins {
			in.Close()
		}
	}
	defer func() { release(); wg.Wait() }()

	deadline := time.Now().Add(execDeadline)
	for {
		ls, err := liveLeases(w.getenv)
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) == n {
			break
		}
		if time.Now().After(deadline) {
			live := map[int]bool{}
			for _, l := range ls {
				live[int(l.GetPid())] = true
			}
			for i, r := range runs {
				if !live[r.pid] {
					b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", r.pid))
					t.Logf("run %d (pid %d, now %q) holds no lease; stderr so far: %q", i, r.pid, b, r.stderr.String())
					for _, ev := range w.events() {
						if ev.PID == r.pid {
							t.Logf("  %s %s lease %s cause %q", ev.Time.Format("15:04:05.000000"), ev.Event, ev.LeaseID, ev.Cause)
						}
					}
				}
			}
			t.Fatalf("%d live leases %s after starting %d runs, want %d", len(ls), execDeadline, n, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	release()
	wg.Wait()

	pids := map[int]bool{}
	for i, r := range runs {
		if r.err != nil {
			t.Errorf("run %d (pid %d): %v; stderr %q", i, r.pid, r.err, r.stderr.String())
		}
		if r.stdout.Len()+r.stderr.Len() != 0 {
			t.Errorf("run %d printed %q %q", i, strings.ReplaceAll(r.stdout.String(), w.token, "<TOKEN>"),
				strings.ReplaceAll(r.stderr.String(), w.token, "<TOKEN>"))
		}
		pids[r.pid] = true
	}
	if t.Failed() {
		t.FailNow()
	}

	// Every lease ends: their processes have all exited.
	deadline = time.Now().Add(execDeadline)
	for {
		ls, err := liveLeases(w.getenv)
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d leases still live %s after every run exited", len(ls), execDeadline)
		}
		time.Sleep(20 * time.Millisecond)
	}

	granted, ended := map[int][]string{}, map[int][]string{}
	for _, ev := range w.events() {
		switch ev.Event {
		case audit.LeaseGranted:
			if ev.Purpose == "exec" {
				granted[ev.PID] = append(granted[ev.PID], ev.LeaseID)
			}
		case audit.LeaseEnded:
			if ev.Purpose == "exec" {
				ended[ev.PID] = append(ended[ev.PID], ev.LeaseID)
				if ev.Cause != "exit" {
					t.Errorf("lease %s ended with cause %q, want exit", ev.LeaseID, ev.Cause)
				}
			}
		}
	}
	for pid := range pids {
		g, e := granted[pid], ended[pid]
		if len(g) != 1 || len(e) != 1 || g[0] != e[0] {
			t.Errorf("pid %d: granted %v, ended %v; want one lease granted and the same one ended", pid, g, e)
		}
	}
	if len(granted) != n || len(ended) != n {
		t.Errorf("the audit log has exec leases for %d pids granted and %d ended, want %d each", len(granted), len(ended), n)
	}
	b, err := os.ReadFile(w.auditPath())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(w.token)) {
		t.Errorf("the audit log holds the token")
	}
}
