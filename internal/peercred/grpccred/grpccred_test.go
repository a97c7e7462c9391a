//go:build linux || darwin

package grpccred

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/hfbroker/hfbroker/internal/peercred"
	"github.com/hfbroker/hfbroker/internal/testutil"
)

// childModeEnv makes the re-executed test binary run a helper instead of the
// tests; see runChild.
const childModeEnv = "HFB_PEERCRED_TEST_CHILD"

// nobody is the uid the cross-user tests run their other side as.
const nobody = 65534

// waitLong bounds waits that normally take milliseconds; generous so a loaded
// machine never flakes.
const waitLong = 20 * time.Second

func TestMain(m *testing.M) {
	if mode := os.Getenv(childModeEnv); mode != "" {
		os.Exit(runChild(mode))
	}
	goleak.VerifyTestMain(m)
}

func requireRoot(t *testing.T) { t.Helper(); testutil.RequireRoot(t, "to run a process as uid 65534") }

// sharedDir returns a short-named directory with the given mode, so that
// sockets fit in sun_path and, for the cross-user tests, uid 65534 can reach
// it.
func sharedDir(t *testing.T, mode os.FileMode) string {
	t.Helper()
	d, err := os.MkdirTemp("", "hfbp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chmod(d, mode); err != nil {
		t.Fatal(err)
	}
	return d
}

func self() peercred.Creds {
	return peercred.Creds{UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), PID: int32(os.Getpid())}
}

// countingListener records, per accepted connection and in accept order, how
// many bytes the server read, to prove a refusing client sent nothing.
type countingListener struct {
	net.Listener
	accepted chan struct{}

	mu    sync.Mutex
	conns []*countingConn
}

func newCountingListener(l net.Listener) *countingListener {
	return &countingListener{Listener: l, accepted: make(chan struct{}, 100)}
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &countingConn{Conn: c}
	l.mu.Lock()
	l.conns = append(l.conns, cc)
	l.mu.Unlock()
	l.accepted <- struct{}{}
	return cc, nil
}

func (l *countingListener) bytesRead() []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []int64
	for _, c := range l.conns {
		out = append(out, c.n.Load())
	}
	return out
}

type countingConn struct {
	net.Conn
	n atomic.Int64
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// SyscallConn keeps the descriptor reachable for peercred.Get through the wrapper.
func (c *countingConn) SyscallConn() (syscall.RawConn, error) {
	return c.Conn.(syscall.Conn).SyscallConn()
}

// healthServer is a gRPC server with only the health service, counting the
// handler calls that get past the transport credentials.
type healthServer struct {
	path  string
	lis   *countingListener
	srv   *grpc.Server
	calls atomic.Int32

	mu   sync.Mutex
	seen []peercred.Creds
	seOK bool
	done chan struct{}
}

func startHealthServer(path string, creds credentials.TransportCredentials) (*healthServer, error) {
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	hs := &healthServer{path: path, lis: newCountingListener(l), done: make(chan struct{})}
	opts := []grpc.ServerOption{grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		hs.calls.Add(1)
		c, ok := FromContext(ctx)
		hs.mu.Lock()
		hs.seen = append(hs.seen, c)
		hs.seOK = ok
		hs.mu.Unlock()
		return h(ctx, req)
	})}
	if creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	hs.srv = grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(hs.srv, health.NewServer())
	go func() {
		defer close(hs.done)
		hs.srv.Serve(hs.lis)
	}()
	return hs, nil
}

func (hs *healthServer) stop() {
	hs.srv.Stop()
	<-hs.done
}

// check makes one health RPC over a fresh client and closes it.
func check(path string, creds credentials.TransportCredentials) (healthpb.HealthCheckResponse_ServingStatus, error) {
	cc, err := grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(creds))
	if err != nil {
		return 0, err
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return 0, err
	}
	return resp.Status, nil
}

func TestSameUserClientIsServedAndHandlerSeesItsCredentials(t *testing.T) {
	uid := uint32(os.Getuid())
	hs, err := startHealthServer(filepath.Join(sharedDir(t, 0o700), "d.sock"), NewServerCredentials(uid, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer hs.stop()

	st, err := check(hs.path, NewClientCredentials(uid))
	if err != nil || st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check = %v, %v; want SERVING", st, err)
	}
	if n := hs.calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times; want 1", n)
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if !hs.seOK || hs.seen[0] != self() {
		t.Errorf("handler saw creds %+v (ok=%v); want %+v", hs.seen[0], hs.seOK, self())
	}
}

func TestAuthInfoDescribesAPrivateUnixConnection(t *testing.T) {
	ai := authInfo(self())
	if ai.AuthType() != "peercred" {
		t.Errorf("AuthType = %q", ai.AuthType())
	}
	if ai.SecurityLevel != credentials.PrivacyAndIntegrity {
		t.Errorf("SecurityLevel = %v; want PrivacyAndIntegrity", ai.SecurityLevel)
	}
	if _, ok := FromContext(context.Background()); ok {
		t.Error("FromContext found creds in a context without a peer")
	}
}

func TestCredentialsRefuseTheWrongRole(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, _, err := NewServerCredentials(0, nil).ClientHandshake(context.Background(), "localhost", a); err == nil {
		t.Error("server credentials performed a client handshake")
	}
	if _, _, err := NewClientCredentials(0).ServerHandshake(a); err == nil {
		t.Error("client credentials performed a server handshake")
	}
}

// TestServerRefusesAnotherUIDBeforeAnyHandler simulates a foreign peer without
// root by making the server allow a uid that is not ours. The root-only test
// below does it for real with uid 65534.
func TestServerRefusesAnotherUIDBeforeAnyHandler(t *testing.T) {
	var logs testutil.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	me := self()
	hs, err := startHealthServer(filepath.Join(sharedDir(t, 0o700), "d.sock"), NewServerCredentials(me.UID+1, logger))
	if err != nil {
		t.Fatal(err)
	}
	defer hs.stop()

	_, err = check(hs.path, insecure.NewCredentials())
	if code := status.Code(err); code != codes.Unavailable && code != codes.PermissionDenied {
		t.Fatalf("Check error = %v; want Unavailable or PermissionDenied", err)
	}
	if n := hs.calls.Load(); n != 0 {
		t.Fatalf("handler ran %d times for a refused peer; want 0", n)
	}
	line := logs.String()
	for _, want := range []string{"refused connection from another user", fmt.Sprintf("uid=%d", me.UID), fmt.Sprintf("pid=%d", me.PID)} {
		if !strings.Contains(line, want) {
			t.Errorf("refusal log %q lacks %q", line, want)
		}
	}
}

// TestClientRefusesAServerOfAnotherUIDBeforeSending simulates a squatter
// without root by making the client want a uid that is not ours.
func TestClientRefusesAServerOfAnotherUIDBeforeSending(t *testing.T) {
	me := self()
	hs, err := startHealthServer(filepath.Join(sharedDir(t, 0o700), "d.sock"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = check(hs.path, NewClientCredentials(me.UID+1))
	want := fmt.Sprintf("owned by uid %d, not you (uid %d)", me.UID, me.UID+1)
	if err == nil || !strings.Contains(err.Error(), want) {
		hs.stop()
		t.Fatalf("Check error = %v; want one containing %q", err, want)
	}
	select {
	case <-hs.lis.accepted:
	case <-time.After(waitLong):
		t.Fatal("server never accepted the refused connection")
	}
	hs.stop() // waits for the server's reads on accepted connections to end
	if n := hs.calls.Load(); n != 0 {
		t.Errorf("handler ran %d times; want 0", n)
	}
	for i, n := range hs.lis.bytesRead() {
		if n != 0 {
			t.Errorf("connection %d: server read %d bytes from a client that should have sent none", i, n)
		}
	}
}

func TestDialerAcceptsPathsAndGRPCUnixTargets(t *testing.T) {
	path := filepath.Join(sharedDir(t, 0o700), "d.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, addr := range []string{path, "unix://" + path} {
		c, err := Dialer(context.Background(), addr)
		if err != nil {
			t.Fatalf("Dialer(%q): %v", addr, err)
		}
		c.Close()
	}
}

// selfCopy copies the test binary into dir, readable and executable by
// everyone, because uid 65534 cannot reach the go build cache (0700, root's).
func selfCopy(t *testing.T, dir string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst := filepath.Join(dir, "peercred.test")
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, src); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// asNobody prepares the test binary to run mode as uid/gid 65534.
func asNobody(t *testing.T, dir, mode string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(selfCopy(t, dir), "-test.run=^$")
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), childModeEnv+"="+mode), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	cmd.Stderr = os.Stderr
	return cmd
}

// TestAnotherUserIsRefusedBeforeAnyHandler is security-notes §5 item 16: a
// client running as another uid reaches a socket it may connect to (dir 0755,
// socket 0666) and is still refused by the transport credentials.
func TestAnotherUserIsRefusedBeforeAnyHandler(t *testing.T) {
	requireRoot(t)
	dir := sharedDir(t, 0o755)
	var logs testutil.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	hs, err := startHealthServer(filepath.Join(dir, "d.sock"), NewServerCredentials(uint32(os.Getuid()), logger))
	if err != nil {
		t.Fatal(err)
	}
	defer hs.stop()
	if err := os.Chmod(hs.path, 0o666); err != nil {
		t.Fatal(err)
	}

	cmd := asNobody(t, dir, "client", "HFB_PEERCRED_TEST_PATH="+hs.path)
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v; output %q", err, out.String())
	}
	var res childResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("child output %q: %v", out.String(), err)
	}
	if res.Code != codes.Unavailable.String() && res.Code != codes.PermissionDenied.String() {
		t.Fatalf("child's RPC ended with %s (%s); want Unavailable or PermissionDenied", res.Code, res.Msg)
	}
	if n := hs.calls.Load(); n != 0 {
		t.Fatalf("handler ran %d times for uid %d; want 0", n, nobody)
	}
	line := logs.String()
	for _, want := range []string{fmt.Sprintf("uid=%d", nobody), fmt.Sprintf("pid=%d", cmd.Process.Pid)} {
		if !strings.Contains(line, want) {
			t.Errorf("refusal log %q lacks %q", line, want)
		}
	}
}

// TestSquattedSocketGetsNoRequest is security-notes §5 item 17: another user
// listens where the daemon's socket should be; the CLI's credentials refuse
// it before writing a byte. A second client that does want uid 65534 gets an
// answer, proving the squatter was reachable and counting.
func TestSquattedSocketGetsNoRequest(t *testing.T) {
	requireRoot(t)
	dir := sharedDir(t, 0o777)
	path := filepath.Join(dir, "squat.sock")
	cmd := asNobody(t, dir, "squatter", "HFB_PEERCRED_TEST_PATH="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill() // only if a Fatal below skips the orderly end
	out := bufio.NewReader(stdout)
	if line, err := out.ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("squatter did not start: %q, %v", line, err)
	}

	_, err = check(path, NewClientCredentials(uint32(os.Getuid())))
	want := fmt.Sprintf("owned by uid %d, not you", nobody)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Check on the squatted socket = %v; want an error containing %q", err, want)
	}
	if st, err := check(path, NewClientCredentials(nobody)); err != nil || st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("control Check wanting uid %d = %v, %v; want SERVING", nobody, st, err)
	}

	stdin.Close()
	rest, _ := io.ReadAll(out)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("squatter: %v; output %q", err, rest)
	}
	var res childResult
	if err := json.Unmarshal(rest, &res); err != nil {
		t.Fatalf("squatter output %q: %v", rest, err)
	}
	if res.Calls != 1 {
		t.Errorf("squatter's handler ran %d times; want 1 (the control call only)", res.Calls)
	}
	// Connections are listed in accept order, which is connect order: the
	// refused one(s) first, the control one last.
	if len(res.Bytes) < 2 {
		t.Fatalf("squatter accepted %d connections; want the refused one and the control one", len(res.Bytes))
	}
	for i, n := range res.Bytes[:len(res.Bytes)-1] {
		if n != 0 {
			t.Errorf("squatter read %d bytes on refused connection %d; want 0", n, i)
		}
	}
	if last := res.Bytes[len(res.Bytes)-1]; last == 0 {
		t.Error("squatter read nothing on the control connection; the byte count proves nothing")
	}
}

// childResult is what a re-executed child reports as JSON on stdout.
type childResult struct {
	Code  string  `json:"code,omitempty"`
	Msg   string  `json:"msg,omitempty"`
	Calls int32   `json:"calls"`
	Bytes []int64 `json:"bytes,omitempty"`
}

// runChild is the re-executed test binary's entry point.
func runChild(mode string) int {
	path := os.Getenv("HFB_PEERCRED_TEST_PATH")
	switch mode {
	case "client":
		// An attacker's client: plain insecure credentials, no checks.
		_, err := check(path, insecure.NewCredentials())
		st := status.Convert(err)
		json.NewEncoder(os.Stdout).Encode(childResult{Code: st.Code().String(), Msg: st.Message()})
		return 0

	case "squatter":
		hs, err := startHealthServer(path, insecure.NewCredentials())
		if err != nil {
			fmt.Fprintln(os.Stderr, "squatter:", err)
			return 1
		}
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin) // serve until the parent is done
		hs.stop()
		json.NewEncoder(os.Stdout).Encode(childResult{Calls: hs.calls.Load(), Bytes: hs.lis.bytesRead()})
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown child mode", mode)
	return 2
}
