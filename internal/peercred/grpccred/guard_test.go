//go:build linux || darwin

package grpccred

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// startGuardedServer serves the health service behind g, counting the calls
// that get past the guard to the handler.
func startGuardedServer(t *testing.T, path string, g Guard) *healthServer {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	hs := &healthServer{path: path, lis: newCountingListener(l), done: make(chan struct{})}
	count := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		hs.calls.Add(1)
		return h(ctx, req)
	}
	hs.srv = grpc.NewServer(grpc.Creds(g.Creds), grpc.ChainUnaryInterceptor(g.Unary, count), grpc.ChainStreamInterceptor(g.Stream),
		grpc.UnknownServiceHandler(g.Unknown))
	healthpb.RegisterHealthServer(hs.srv, health.NewServer())
	go func() {
		defer close(hs.done)
		hs.srv.Serve(hs.lis)
	}()
	t.Cleanup(hs.stop)
	return hs
}

func TestGuardServesItsOwnUID(t *testing.T) {
	hs := startGuardedServer(t, filepath.Join(sharedDir(t, 0o700), "g.sock"), NewGuard(self().UID, nil))
	if st, err := check(hs.path, insecure.NewCredentials()); err != nil || st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("same-uid check = %v, %v; want SERVING", st, err)
	}
	if n := hs.calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times; want 1", n)
	}
}

// The guard answers another uid PermissionDenied before any handler runs
// (simulated without root by allowing a uid that is not ours).
func TestGuardAnswersAnotherUIDPermissionDenied(t *testing.T) {
	hs := startGuardedServer(t, filepath.Join(sharedDir(t, 0o700), "g.sock"), NewGuard(self().UID+1, nil))
	_, err := check(hs.path, insecure.NewCredentials())
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("check error = %v; want PermissionDenied", err)
	}
	if n := hs.calls.Load(); n != 0 {
		t.Fatalf("handler ran %d times for a foreign peer; want 0", n)
	}
}

// TestGuardRefusesUID65534 does it for real: as root, the test binary re-run
// as uid 65534 calls the guarded server and is refused with PermissionDenied.
func TestGuardRefusesUID65534(t *testing.T) {
	requireRoot(t)
	dir := sharedDir(t, 0o755)
	hs := startGuardedServer(t, filepath.Join(dir, "g.sock"), NewGuard(uint32(os.Getuid()), nil))
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
	if res.Code != codes.PermissionDenied.String() {
		t.Fatalf("uid 65534's call ended with %s (%s); want PermissionDenied", res.Code, res.Msg)
	}
	if n := hs.calls.Load(); n != 0 {
		t.Fatalf("handler ran %d times for uid 65534; want 0", n)
	}
}

// callUnknown calls a method the server does not have.
func callUnknown(path, method string) error {
	cc, err := grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	return cc.Invoke(ctx, method, &healthpb.HealthCheckRequest{}, new(healthpb.HealthCheckResponse))
}

// TestGuardAnswersAnUnknownMethodByUID (issue 19): served with Unknown,
// the guard refuses another uid's call to a method that does not exist with
// PermissionDenied, as any other; its own uid is told Unimplemented.
func TestGuardAnswersAnUnknownMethodByUID(t *testing.T) {
	for _, method := range []string{"/grpc.health.v1.Health/Nope", "/no.Such/Service"} {
		foreign := startGuardedServer(t, filepath.Join(sharedDir(t, 0o700), "g.sock"), NewGuard(self().UID+1, nil))
		if err := callUnknown(foreign.path, method); status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s from another uid: %v; want PermissionDenied", method, err)
		}
		own := startGuardedServer(t, filepath.Join(sharedDir(t, 0o700), "g.sock"), NewGuard(self().UID, nil))
		if err := callUnknown(own.path, method); status.Code(err) != codes.Unimplemented {
			t.Errorf("%s from our own uid: %v; want Unimplemented", method, err)
		}
	}
}
