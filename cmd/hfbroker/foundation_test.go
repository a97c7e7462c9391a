//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
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
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/hfbroker/hfbroker/internal/fullcli"
	"github.com/hfbroker/hfbroker/internal/hubtest"
	"github.com/hfbroker/hfbroker/internal/lane"
	"github.com/hfbroker/hfbroker/internal/testutil"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
	"github.com/hfbroker/hfbroker/proto/hfbroker/v1/hfbrokerv1grpc"
)

// The foundation tests pin the daemon's security rules end to end, with the
// real binaries as separate processes: the uid check in both directions, one
// daemon per socket, and recovery after kill -9 (in foundation-*.txtar).
// Those that need another uid run only as root; CI runs them as root with
// HFBROKER_TEST_REQUIRE_ROOT=1, so they cannot silently skip there.

// nobody is the uid (and gid) the tests use for "another local user".
const nobody = 65534

// requireRoot skips a test that needs to switch uid, unless CI demands it.
func requireRoot(t *testing.T) {
	t.Helper()
	testutil.RequireRoot(t, "to run a process as another uid")
}

// world is a private HOME and socket for a Go-level foundation test.
type world struct {
	home, sockDir, sock string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	// A short socket path: t.TempDir() names can exceed sun_path.
	sockDir, err := os.MkdirTemp("", "hfb")
	if err != nil {
		t.Fatal(err)
	}
	w := &world{home: t.TempDir(), sockDir: sockDir, sock: filepath.Join(sockDir, "d.sock")}
	t.Cleanup(func() {
		stopDaemon(w.sock)
		os.RemoveAll(sockDir)
	})
	return w
}

// env is the environment of the world's processes: no token store outside
// the process (memory backend) and no autostart unless a test asks for it.
func (w *world) env(extra ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + w.home,
		"HFBROKER_SOCKET=" + w.sock,
		"HFBROKER_BACKEND=memory",
		"HFBROKER_NO_AUTOSTART=1",
	}
	return append(env, extra...)
}

// daemonProc is an hfbrokerd started by a test.
type daemonProc struct {
	cmd    *exec.Cmd
	stderr *testutil.SyncBuffer
	done   chan struct{}
	err    error // valid after done is closed
}

func (d *daemonProc) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// startDaemon runs "hfbrokerd run" (the test binary, from testscript's PATH).
func (w *world) startDaemon(t *testing.T, stderr io.Writer) *daemonProc {
	t.Helper()
	buf := &testutil.SyncBuffer{}
	cmd := exec.Command("hfbrokerd", "run")
	cmd.Env = w.env()
	cmd.Stdout = buf
	cmd.Stderr = buf
	if stderr != nil {
		cmd.Stderr = io.MultiWriter(buf, stderr)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start hfbrokerd: %v", err)
	}
	d := &daemonProc{cmd: cmd, stderr: buf, done: make(chan struct{})}
	go func() { d.err = cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		if !d.exited() {
			cmd.Process.Kill()
			<-d.done
		}
	})
	return d
}

// stop sends SIGTERM and waits for a clean exit.
func (d *daemonProc) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil && !d.exited() {
		t.Fatalf("signal hfbrokerd: %v", err)
	}
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("hfbrokerd (pid %d) did not stop within 30 s of SIGTERM", d.cmd.Process.Pid)
	}
	if d.err != nil {
		t.Errorf("hfbrokerd exited with %v after SIGTERM; its output:\n%s", d.err, d.stderr)
	}
}

// waitServing waits until a daemon answers on the socket and returns its pid.
func (w *world) waitServing(t *testing.T, procs ...*daemonProc) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if pid, err := daemonPID(w.sock); err == nil {
			return pid
		}
		allGone := len(procs) > 0
		for _, d := range procs {
			allGone = allGone && d.exited()
		}
		if allGone {
			for _, d := range procs {
				t.Logf("hfbrokerd exited (%v):\n%s", d.err, d.stderr)
			}
			t.Fatal("every hfbrokerd exited and none serves the socket")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no daemon answered on the socket within 30 s")
	return 0
}

// publicBinaries copies the test binary under each name into a fresh 0755
// directory, so a process of another uid can run it (testscript's own bin
// directory is private to root).
func publicBinaries(t *testing.T, names ...string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "hfb-bin")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), src, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// asUser makes cmd run as uid/gid with no supplementary groups.
func asUser(cmd *exec.Cmd, uid int) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
}

// exitCode returns the process's exit code, or -1 when it did not exit normally.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return ee.ExitCode()
	}
	return -1
}

// TestFoundationForeignUserIsRefused pins the daemon side of the uid check:
// a client of another uid that can reach the socket (here: its directory and
// mode opened up on purpose) gets no answer at all, while the same raw client
// run by the daemon's own uid does. It also pins the CLI side: hfbroker run as
// that other user refuses root's socket before sending anything.
func TestFoundationForeignUserIsRefused(t *testing.T) {
	requireRoot(t)
	w := newWorld(t)
	d := w.startDaemon(t, nil)
	pid := w.waitServing(t, d)

	// The test is about the uid check, not file modes: let uid 65534 reach
	// the socket.
	if err := os.Chmod(w.sockDir, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(w.sock, 0o666); err != nil {
		t.Fatal(err)
	}
	bin := publicBinaries(t, "hfb-rawclient", "hfbroker", fullcli.Name)

	run := func(uid int, name string, args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Env = []string{"PATH=" + bin, "HOME=/nonexistent", "HFBROKER_SOCKET=" + w.sock, "HFBROKER_NO_AUTOSTART=1"}
		if uid != os.Getuid() {
			asUser(cmd, uid)
		}
		out, err := cmd.CombinedOutput()
		code := exitCode(err)
		if code < 0 {
			t.Fatalf("%s as uid %d: %v", name, uid, err)
		}
		return string(out), code
	}

	// Same uid: the raw client is served, so a refusal below is the uid check.
	out, code := run(os.Getuid(), "hfb-rawclient", w.sock)
	if code != 0 || strings.TrimSpace(out) != fmt.Sprintf("served pid=%d", pid) {
		t.Fatalf("raw client as the daemon's own uid: exit %d, output %q; want served pid=%d", code, out, pid)
	}

	// Another uid: refused before any handler runs, over gRPC and over the lane.
	for _, lane := range []bool{false, true} {
		args := []string{w.sock}
		if lane {
			args = []string{"--lane", w.sock}
			if out, code := run(os.Getuid(), "hfb-rawclient", args...); code != 0 || strings.TrimSpace(out) != fmt.Sprintf("served pid=%d", pid) {
				t.Fatalf("raw lane client as the daemon's own uid: exit %d, output %q; want served pid=%d", code, out, pid)
			}
		}
		out, code = run(nobody, "hfb-rawclient", args...)
		if code == 0 || strings.Contains(out, "served") {
			t.Fatalf("raw client %v as uid %d was served (exit %d): %q\n"+
				"BUG: the daemon's guard does not refuse another uid (internal/peercred/grpccred)",
				args, nobody, code, out)
		}
		if !strings.Contains(out, "code=PermissionDenied") {
			t.Errorf("raw client %v as uid %d: %q; want the call refused with PermissionDenied", args, nobody, out)
		}
	}
	// The refusal is logged with the peer's uid (and never anything it sent).
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(d.stderr.String(), "refused connection from another user") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if log := d.stderr.String(); !strings.Contains(log, "refused connection from another user") || !strings.Contains(log, "uid="+strconv.Itoa(nobody)) {
		t.Errorf("the daemon's log does not record the refusal of uid %d:\n%s", nobody, log)
	}

	// The CLI of another user refuses root's socket (exit 3, one line, a hint).
	out, code = run(nobody, "hfbroker", "status")
	if code != 3 {
		t.Errorf("hfbroker status as uid %d: exit %d, want 3; output:\n%s", nobody, code, out)
	}
	if !strings.Contains(out, "served by another user") {
		t.Errorf("hfbroker status as uid %d: %q; want it to say the socket is served by another user", nobody, out)
	}
	checkOneLineError(t, out)
	if strings.Contains(out, "pid "+strconv.Itoa(pid)) {
		t.Errorf("hfbroker status as uid %d printed the daemon's status: %q", nobody, out)
	}

	if d.exited() {
		t.Fatalf("the daemon died during the test: %v\n%s", d.err, d.stderr)
	}
	d.stop(t)
}

// TestFoundationSquattedSocketGetsNothing: another user listens on our
// socket path. hfbroker checks the listener's uid before it writes a byte, so
// the squatter reads nothing (not even a gRPC preface, let alone a token),
// and the CLI exits 3 with one line naming another user.
func TestFoundationSquattedSocketGetsNothing(t *testing.T) {
	requireRoot(t)
	bin := publicBinaries(t, "hfb-squat")
	dir, err := os.MkdirTemp("", "hfbsq")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock, report := filepath.Join(dir, "d.sock"), filepath.Join(dir, "report")

	sq := exec.Command(filepath.Join(bin, "hfb-squat"), sock, report)
	sq.Env = []string{"PATH=" + bin}
	var sqOut testutil.SyncBuffer
	sq.Stdout, sq.Stderr = &sqOut, &sqOut
	asUser(sq, nobody)
	if err := sq.Start(); err != nil {
		t.Fatal(err)
	}
	sqDone := make(chan struct{})
	go func() { sq.Wait(); close(sqDone) }()
	t.Cleanup(func() { sq.Process.Kill(); <-sqDone })

	// Wait for the squatter to listen, without connecting (which would count).
	deadline := time.Now().Add(30 * time.Second)
	for {
		if strings.Contains(sqOut.String(), "listening") {
			break
		}
		select {
		case <-sqDone:
			t.Fatalf("squatter exited: %s", sqOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("squatter did not listen within 30 s: %s", sqOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	hub := hubtest.New(t)
	defer hub.Close()
	hub.AddUser("alice", "Alice Example")
	tok := hub.AddToken("alice", hubtest.TokenSpec{Role: "write", DisplayName: "laptop"})

	home := t.TempDir()
	runs := []struct {
		args  []string
		stdin string
	}{
		{args: []string{"status"}},
		{args: []string{"token"}},
		{args: []string{"login", "--name", "work"}, stdin: tok},
	}
	for _, r := range runs {
		// A CLI that talked to the squatter would wait for an answer that
		// never comes: bound it, so the test fails instead of hanging.
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "hfbroker", r.args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "HFBROKER_SOCKET=" + sock, "HF_ENDPOINT=" + hub.URL()}
		cmd.Stdin = strings.NewReader(r.stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		code := exitCode(cmd.Run())
		if code != 3 {
			t.Errorf("hfbroker %s on a squatted socket: exit %d, want 3; stderr:\n%s", r.args[0], code, stderr.String())
		}
		if stdout.Len() != 0 {
			t.Errorf("hfbroker %s on a squatted socket printed %q", r.args[0], stdout.String())
		}
		if !strings.Contains(stderr.String(), "another user") {
			t.Errorf("hfbroker %s on a squatted socket: %q; want it to name another user", r.args[0], stderr.String())
		}
		if strings.Contains(stderr.String(), tok) {
			t.Errorf("hfbroker %s printed the token on stderr", r.args[0])
		}
		checkOneLineError(t, stderr.String())
	}

	// Each CLI run dialled (to read the listener's uid) and hung up: wait for
	// the squatter to have seen every connection close, then check that not
	// one byte arrived on any of them.
	deadline = time.Now().Add(30 * time.Second)
	var lines []string
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(report)
		lines = strings.Fields(string(b))
		if len(lines) >= len(runs) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(lines) < len(runs) {
		t.Fatalf("the squatter saw %d connections, want at least %d (one per CLI run): %q", len(lines), len(runs), lines)
	}
	for i, l := range lines {
		if l != "0" {
			t.Errorf("connection %d to the squatter carried %s bytes; want 0", i+1, l)
		}
	}
	if _, err := os.Stat(filepath.Join(home, ".local", "state", "hfbroker", "hfbrokerd.log")); err == nil {
		t.Errorf("the CLI tried to start a daemon on a socket another user serves")
	}
}

// TestFoundationTwoDaemonsStartedTogetherOneServes starts two daemons on one
// socket at the same moment, 20 times: each time exactly one serves and the
// other exits non-zero saying "already running".
func TestFoundationTwoDaemonsStartedTogetherOneServes(t *testing.T) {
	w := newWorld(t)
	for round := 1; round <= 20; round++ {
		a, b := w.startDaemon(t, nil), w.startDaemon(t, nil)
		pid := w.waitServing(t, a, b)

		// The loser fails at the lock (or finds the socket alive): wait for it.
		var winner, loser *daemonProc
		deadline := time.After(30 * time.Second)
		for winner == nil {
			select {
			case <-a.done:
				winner, loser = b, a
			case <-b.done:
				winner, loser = a, b
			case <-deadline:
				t.Fatalf("round %d: both daemons still run 30 s after one started serving (pids %d, %d)", round, a.cmd.Process.Pid, b.cmd.Process.Pid)
			}
		}
		if code := exitCode(loser.err); code <= 0 {
			t.Errorf("round %d: the second daemon exited with %v; want a non-zero exit code", round, loser.err)
		}
		if !strings.Contains(loser.stderr.String(), "already running") {
			t.Errorf("round %d: the second daemon's stderr does not say \"already running\":\n%s", round, loser.stderr)
		}
		if winner.exited() {
			t.Fatalf("round %d: both daemons exited:\nfirst: %v\n%s\nsecond: %v\n%s", round, a.err, a.stderr, b.err, b.stderr)
		}
		if pid != winner.cmd.Process.Pid {
			t.Fatalf("round %d: pid %d serves the socket, but the surviving daemon is %d", round, pid, winner.cmd.Process.Pid)
		}

		// The survivor answers hfbroker status.
		cmd := exec.Command("hfbroker", "status", "--json")
		cmd.Env = w.env()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("round %d: hfbroker status: %v\n%s", round, err, out)
		}
		if !strings.Contains(string(out), fmt.Sprintf(`"pid": %d,`, pid)) {
			t.Fatalf("round %d: hfbroker status does not report pid %d:\n%s", round, pid, out)
		}
		winner.stop(t)
	}
}

// checkOneLineError asserts that out is one "hfbroker: error:" line,
// optionally followed by one "hfbroker: hint:" line, and nothing else.
func checkOneLineError(t *testing.T, out string) {
	t.Helper()
	if err := oneLineError(out); err != nil {
		t.Error(err)
	}
}

func oneLineError(out string) error {
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	switch {
	case out == "" || !strings.HasSuffix(out, "\n"):
		return fmt.Errorf("want one error line ending in a newline, got %q", out)
	case !strings.HasPrefix(lines[0], "hfbroker: error: "):
		return fmt.Errorf("want the first line to be \"hfbroker: error: …\", got %q", out)
	case len(lines) == 2 && !strings.HasPrefix(lines[1], "hfbroker: hint: "):
		return fmt.Errorf("want the second line to be \"hfbroker: hint: …\", got %q", out)
	case len(lines) > 2:
		return fmt.Errorf("want at most an error line and a hint line, got %d lines: %q", len(lines), out)
	}
	return nil
}

// rawClientMain is "hfb-rawclient [--lane] SOCKET": a client with no uid
// check of its own, as an attacker would write it, over gRPC or (--lane) the
// daemon's local lane. It calls Status and prints "served pid=N" or the
// failure's code, never anything else the daemon sent.
func rawClientMain() {
	args := os.Args[1:]
	useLane := len(args) > 0 && args[0] == "--lane"
	if useLane {
		args = args[1:]
	}
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: hfb-rawclient [--lane] SOCKET")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var (
		s   *pb.StatusResponse
		err error
	)
	if useLane {
		var nc net.Conn
		if nc, err = net.Dial("unix", args[0]); err != nil {
			fmt.Println("dial:", err)
			os.Exit(1)
		}
		l := lane.NewConn(nc)
		defer l.Close()
		s = new(pb.StatusResponse)
		if err = l.Invoke(ctx, "Status", &pb.StatusRequest{}, s); err != nil {
			if le, ok := errors.AsType[*lane.Error](err); ok {
				err = status.Error(codes.Code(le.Code), le.Message)
			}
		}
	} else {
		conn, derr := grpc.NewClient("unix://"+args[0], grpc.WithTransportCredentials(insecure.NewCredentials()))
		if derr != nil {
			fmt.Println("dial:", derr)
			os.Exit(1)
		}
		defer conn.Close()
		s, err = hfbrokerv1grpc.NewBrokerServiceClient(conn).Status(ctx, &pb.StatusRequest{})
	}
	if err != nil {
		fmt.Printf("code=%s\n", status.Code(err))
		os.Exit(1)
	}
	fmt.Printf("served pid=%d\n", s.GetPid())
}

// squatMain is "hfb-squat SOCKET REPORT": it listens on SOCKET (mode 0777,
// so any user can reach it), prints "listening", and for every connection
// appends to REPORT the number of bytes the peer sent before hanging up.
func squatMain() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: hfb-squat SOCKET REPORT")
		os.Exit(2)
	}
	l, err := net.Listen("unix", os.Args[1])
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	if err := os.Chmod(os.Args[1], 0o777); err != nil {
		fmt.Println("chmod:", err)
		os.Exit(1)
	}
	var mu sync.Mutex
	fmt.Println("listening")
	for {
		c, err := l.Accept()
		if err != nil {
			fmt.Println("accept:", err)
			os.Exit(1)
		}
		go func() {
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(60 * time.Second))
			n, _ := io.Copy(io.Discard, c)
			mu.Lock()
			defer mu.Unlock()
			f, err := os.OpenFile(os.Args[2], os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				fmt.Println("report:", err)
				return
			}
			fmt.Fprintf(f, "%d\n", n)
			f.Close()
		}()
	}
}

// Script commands for the foundation-*.txtar scripts.
func init() {
	for name, cmd := range map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"exits":           cmdExits,
		"one-line-error":  cmdOneLineError,
		"no-token-output": cmdNoTokenOutput,
		"closed-port":     cmdClosedPort,
		"silent-port":     cmdSilentPort,
		"env-repeat":      cmdEnvRepeat,
		"wait-file":       cmdWaitFile,
		"hub-revoke":      cmdHubRevoke,
	} {
		extraCmds[name] = cmd
	}
}

// exits CODE [-within DURATION] PROG [ARGS...]: run PROG and check its exit
// code (and, with -within, that it returned within DURATION).
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE [-within DURATION] PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	args = args[1:]
	var within time.Duration
	if args[0] == "-within" {
		if len(args) < 3 {
			ts.Fatalf("usage: exits CODE [-within DURATION] PROG [ARGS...]")
		}
		within, err = time.ParseDuration(args[1])
		ts.Check(err)
		args = args[2:]
	}
	start := time.Now()
	err = ts.Exec(args[0], args[1:]...)
	took := time.Since(start)
	code := exitCode(err)
	if code < 0 {
		ts.Fatalf("%s: %v", args[0], err)
	}
	if code != want {
		ts.Fatalf("%s exited with %d, want %d", args[0], code, want)
	}
	if within > 0 && took > within {
		ts.Fatalf("%s took %s, want at most %s", args[0], took.Round(time.Millisecond), within)
	}
	ts.Logf("%s exited %d after %s", args[0], code, took.Round(time.Millisecond))
}

// one-line-error: the last command's stderr is one "hfbroker: error:" line,
// optionally followed by one "hfbroker: hint:" line.
func cmdOneLineError(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: one-line-error")
	}
	ts.Check(oneLineError(ts.ReadFile("stderr")))
}

// tokenVars are the variables setupWorld fills with token values.
var tokenVars = []string{"TOKEN_WRITE", "TOKEN_READ", "TOKEN_FG", "TOKEN_UNKNOWN", "ORG_TOKEN"}

// no-token-output [stdout|stderr...]: the last command's stdout and stderr
// (or just those named) hold none of the scripts' token values.
func cmdNoTokenOutput(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("usage: no-token-output [stdout|stderr...]")
	}
	if len(args) == 0 {
		args = []string{"stdout", "stderr"}
	}
	for _, stream := range args {
		if stream != "stdout" && stream != "stderr" {
			ts.Fatalf("usage: no-token-output [stdout|stderr...]")
		}
		text := ts.ReadFile(stream)
		for _, v := range tokenVars {
			if tok := ts.Getenv(v); tok != "" && strings.Contains(text, tok) {
				ts.Fatalf("%s holds $%s", stream, v)
			}
		}
	}
}

// closed-port VAR: set $VAR to a loopback port nothing listens on.
func cmdClosedPort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: closed-port VAR")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	port := l.Addr().(*net.TCPAddr).Port
	ts.Check(l.Close())
	ts.Setenv(args[0], strconv.Itoa(port))
}

// silent-port VAR: set $VAR to a loopback port that accepts connections and
// never answers, until the script ends.
func cmdSilentPort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: silent-port VAR")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	ts.Defer(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	ts.Setenv(args[0], strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
}

// env-repeat FILE VAR N: write $VAR's value N times (no separator) to FILE.
func cmdEnvRepeat(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: env-repeat FILE VAR N")
	}
	n, err := strconv.Atoi(args[2])
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(strings.Repeat(ts.Getenv(args[1]), n)), 0o600))
}

// wait-file FILE: wait (up to 30 s) until FILE exists.
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: wait-file FILE")
	}
	for range 1500 {
		if _, err := os.Stat(ts.MkAbs(args[0])); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("%s did not appear within 30 s", args[0])
}

// hubKey is the testscript Value under which setupWorld keeps the fake Hub.
type hubKey struct{}

// hub-revoke VAR: the fake Hub revokes the token in $VAR.
func cmdHubRevoke(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: hub-revoke VAR")
	}
	scriptHub(ts).Revoke(ts.Getenv(args[0]))
}
