package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/hfbroker/hfbroker/internal/client"
	"github.com/hfbroker/hfbroker/internal/lane"
	"github.com/hfbroker/hfbroker/internal/testutil"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// childModeEnv makes the re-executed test binary run a client instead of
// the tests (see runChild): a process of its own, so another pid, and as
// root another uid.
const childModeEnv = "HFB_DAEMON_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childModeEnv); mode != "" {
		os.Exit(runChild(mode, os.Getenv("HFB_DAEMON_TEST_SOCKET")))
	}
	os.Exit(m.Run())
}

// childResult is one call's outcome as a child reports it, in JSON.
type childResult struct {
	Call string `json:"call"`
	Code string `json:"code"`
	Msg  string `json:"msg"`
}

func runChild(mode, sock string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []childResult
	viaLane := func(name, method string) {
		nc, err := net.Dial("unix", sock)
		if err != nil {
			out = append(out, childResult{Call: name, Code: "dial", Msg: err.Error()})
			return
		}
		l := lane.NewConn(nc)
		defer l.Close()
		err = l.Invoke(ctx, method, &pb.StatusRequest{}, new(pb.StatusResponse))
		r := childResult{Call: name, Code: codes.OK.String()}
		if le, ok := errors.AsType[*lane.Error](err); ok {
			r.Code, r.Msg = codes.Code(le.Code).String(), le.Message
		} else if err != nil {
			r.Code, r.Msg = "?", err.Error()
		}
		out = append(out, r)
	}
	viaGRPC := func(name, method string) {
		conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			out = append(out, childResult{Call: name, Code: "dial", Msg: err.Error()})
			return
		}
		defer conn.Close()
		err = conn.Invoke(ctx, method, &pb.StatusRequest{}, new(pb.StatusResponse))
		st := status.Convert(err)
		out = append(out, childResult{Call: name, Code: st.Code().String(), Msg: st.Message()})
	}
	switch mode {
	case "status":
		viaLane("lane Status", "Status")
	case "foreign":
		viaLane("lane unknown method", "Nope")
		viaLane("lane Status", "Status")
		viaGRPC("gRPC unknown method", "/hfbroker.v1.BrokerService/Nope")
		viaGRPC("gRPC unknown service", "/no.Such/Service")
		viaGRPC("gRPC Status", "/hfbroker.v1.BrokerService/Status")
	default:
		fmt.Fprintln(os.Stderr, "unknown child mode", mode)
		return 2
	}
	json.NewEncoder(os.Stdout).Encode(out)
	return 0
}

// runChildProcess runs the test binary at exe in mode against sock, with attr
// when it is not nil, and returns what it reports.
func runChildProcess(t *testing.T, exe, mode, sock string, attr *syscall.SysProcAttr) []childResult {
	t.Helper()
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Dir = filepath.Dir(exe)
	cmd.Env = append(os.Environ(), childModeEnv+"="+mode, "HFB_DAEMON_TEST_SOCKET="+sock)
	cmd.SysProcAttr = attr
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child %s: %v\n%s", mode, err, stderr.String())
	}
	var res []childResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("child %s printed %q: %v", mode, stdout.String(), err)
	}
	return res
}

// openLane dials the daemon, sends the lane's magic and a Status call, and
// reads the answer, leaving the connection idle and counted.
func openLane(t *testing.T, sock string) net.Conn {
	t.Helper()
	nc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	l := lane.NewConn(nopCloser{nc})
	if err := l.Invoke(context.Background(), "Status", &pb.StatusRequest{}, new(pb.StatusResponse)); err != nil {
		t.Fatalf("Status on a fresh connection: %v", err)
	}
	return nc
}

// waitNoneOpen waits for the daemon to have noticed that this process
// closed its connections (startTestDaemon's set-up uses one).
func waitNoneOpen(t *testing.T, peers *peerCounter) {
	t.Helper()
	if !peers.waitOpen(int32(os.Getpid()), 0, 20*time.Second) {
		t.Fatal("the daemon still counts connections this process closed")
	}
}

// nopCloser keeps a lane.Conn from closing the test's connection.
type nopCloser struct{ net.Conn }

func (nopCloser) Close() error { return nil }

// waitClosed waits for the daemon to close nc: a read that ends in EOF or a
// reset. The connection's deadline (20s) bounds the wait.
func waitClosed(t *testing.T, nc net.Conn, what string) {
	t.Helper()
	n, err := io.Copy(io.Discard, nc)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("%s: read %d bytes, then %v; want the daemon to close it", what, n, err)
	}
}

// TestIdleLaneConnectionsAreClosedAndCappedPerProcess is issue 19's
// "connections that sent the lane magic never time out, and there is no
// cap": 24,000 such connections from one process used up the daemon's
// descriptors until 'hfbroker status' failed. Now one process holds at most
// perPID connections; the next is refused with a reason while another
// process is still served; an idle lane connection, and one that never
// sends the magic, are closed after their deadlines, which frees the slots.
func TestIdleLaneConnectionsAreClosedAndCappedPerProcess(t *testing.T) {
	checkNoLeaks(t)
	const perPID = 4
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("the cap refuses one process's extra connection and serves another process", func(t *testing.T) {
		var peers *peerCounter
		d := startTestDaemonWith(t, func(o *Options) {
			o.limits = &connLimits{sniff: time.Minute, idle: time.Minute, perPID: perPID, perForeignUID: 1}
			o.onPeers = func(p *peerCounter) { peers = p }
		})
		waitNoneOpen(t, peers) // the set-up's connection
		var held []net.Conn
		for range perPID {
			nc := openLane(t, d.sock)
			held = append(held, nc)
		}
		// One too many: answered ResourceExhausted, in the lane's framing.
		extra, err := net.Dial("unix", d.sock)
		if err != nil {
			t.Fatal(err)
		}
		defer extra.Close()
		extra.SetDeadline(time.Now().Add(20 * time.Second))
		err = lane.NewConn(nopCloser{extra}).Invoke(context.Background(), "Status", &pb.StatusRequest{}, new(pb.StatusResponse))
		le, ok := errors.AsType[*lane.Error](err)
		if !ok || codes.Code(le.Code) != codes.ResourceExhausted || !strings.Contains(le.Message, "too many connections from process") {
			t.Fatalf("connection %d from one process: %v; want ResourceExhausted, too many connections", perPID+1, err)
		}
		// Another process (the owner's 'hfbroker status') is served.
		if res := runChildProcess(t, exe, "status", d.sock, nil); len(res) != 1 || res[0].Code != "OK" {
			t.Fatalf("status from another process while this one is at its cap: %+v", res)
		}
		// Closing one frees its slot.
		held[0].Close()
		if !peers.waitOpen(int32(os.Getpid()), perPID-1, 20*time.Second) {
			t.Fatal("the daemon did not notice a closed connection")
		}
		nc, err := net.Dial("unix", d.sock)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(20 * time.Second))
		if err := lane.NewConn(nopCloser{nc}).Invoke(context.Background(), "Status", &pb.StatusRequest{}, new(pb.StatusResponse)); err != nil {
			t.Fatalf("a new connection after one closed: %v", err)
		}
		if err := d.stop(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("the total cap refuses everyone until a slot frees", func(t *testing.T) {
		var peers *peerCounter
		d := startTestDaemonWith(t, func(o *Options) {
			o.limits = &connLimits{sniff: time.Minute, idle: time.Minute, perPID: 100, perForeignUID: 1, total: perPID}
			o.onPeers = func(p *peerCounter) { peers = p }
		})
		waitNoneOpen(t, peers)
		var held []net.Conn
		for range perPID {
			held = append(held, openLane(t, d.sock))
		}
		res := runChildProcess(t, exe, "status", d.sock, nil)
		if len(res) != 1 || res[0].Code != codes.ResourceExhausted.String() || !strings.Contains(res[0].Msg, "its limit") {
			t.Fatalf("status from another process with the daemon full: %+v; want ResourceExhausted, at its limit", res)
		}
		held[0].Close()
		if !peers.waitOpen(int32(os.Getpid()), perPID-1, 20*time.Second) {
			t.Fatal("the daemon did not notice a closed connection")
		}
		if res := runChildProcess(t, exe, "status", d.sock, nil); len(res) != 1 || res[0].Code != "OK" {
			t.Fatalf("status once a slot is free: %+v", res)
		}
		if err := d.stop(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("idle connections are closed after their deadline, freeing the slots", func(t *testing.T) {
		const idle = 200 * time.Millisecond
		var peers *peerCounter
		d := startTestDaemonWith(t, func(o *Options) {
			o.limits = &connLimits{sniff: idle, idle: idle, perPID: perPID, perForeignUID: 1}
			o.onPeers = func(p *peerCounter) { peers = p }
		})
		waitNoneOpen(t, peers)
		var held []net.Conn
		for range perPID {
			nc := openLane(t, d.sock)
			held = append(held, nc)
		}
		for i, nc := range held {
			waitClosed(t, nc, fmt.Sprintf("idle lane connection %d", i))
		}
		// One that sent half the magic, and one that sent nothing.
		for _, head := range []string{lane.Magic[:2], ""} {
			nc, err := net.Dial("unix", d.sock)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(20 * time.Second))
			nc.Write([]byte(head))
			waitClosed(t, nc, fmt.Sprintf("a connection that sent %q", head))
		}
		// Every slot is free again.
		waitNoneOpen(t, peers)
		for range perPID {
			openLane(t, d.sock)
		}
		if !strings.Contains(d.logs.String(), "closing idle connection") {
			t.Errorf("the daemon did not log closing the idle connections:\n%s", d.logs)
		}
		if err := d.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestAnotherUIDIsDeniedEvenAnUnknownMethod is issue 19's "an unknown method
// from another uid gets Unimplemented": the README promises PermissionDenied
// for every call from another uid, and an Unimplemented told uid 65534 what
// the daemon serves. As root, the test binary re-run as uid 65534 calls an
// unknown method and a known one over the lane and over gRPC: every answer
// is PermissionDenied.
func TestAnotherUIDIsDeniedEvenAnUnknownMethod(t *testing.T) {
	checkNoLeaks(t)
	requireRoot(t)
	dir, err := os.MkdirTemp("", "hfbn")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The test's own listener: socket.Listen would make the directory 0700,
	// and the point is a peer that does reach the socket.
	path := filepath.Join(dir, "d.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	d := startTestDaemonWith(t, func(o *Options) { o.Listener = l })
	exe := copyTestBinary(t, dir)

	res := runChildProcess(t, exe, "foreign", d.sock, asUser(nobody, nobody))
	if len(res) != 5 {
		t.Fatalf("child reported %+v; want 5 calls", res)
	}
	for _, r := range res {
		if r.Code != codes.PermissionDenied.String() {
			t.Errorf("%s from uid %d: %s (%s); want PermissionDenied", r.Call, nobody, r.Code, r.Msg)
		}
	}
	if strings.Contains(d.logs.String(), "method=Status") {
		t.Errorf("a handler ran for uid %d:\n%s", nobody, d.logs)
	}
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
}

// nobody is the uid the cross-user test runs its client as.
const nobody = 65534

func requireRoot(t *testing.T) { t.Helper(); testutil.RequireRoot(t, "to run a process as uid 65534") }

// copyTestBinary copies the test binary into dir, readable and executable by
// everyone: uid 65534 cannot reach the go build cache.
func copyTestBinary(t *testing.T, dir string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "daemon.test")
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestAClientDialsAgainAfterTheDaemonClosedItsIdleConnection: closing idle
// lane connections (issue 19) must not cost a long-lived client its next
// call; client.Client notices the closed connection and dials a new one.
func TestAClientDialsAgainAfterTheDaemonClosedItsIdleConnection(t *testing.T) {
	checkNoLeaks(t)
	var peers *peerCounter
	d := startTestDaemonWith(t, func(o *Options) {
		o.limits = &connLimits{sniff: time.Minute, idle: 100 * time.Millisecond, perPID: 8, perForeignUID: 1}
		o.onPeers = func(p *peerCounter) { peers = p }
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{Socket: d.sock, NoAutostart: true, Env: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Status(ctx, &pb.StatusRequest{}); err != nil {
		t.Fatal(err)
	}
	if !peers.waitOpen(int32(os.Getpid()), 0, 20*time.Second) {
		t.Fatal("the daemon did not close the idle connection")
	}
	if _, err := c.Status(ctx, &pb.StatusRequest{}); err != nil {
		t.Fatalf("call after the daemon closed the idle connection: %v", err)
	}
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
}
