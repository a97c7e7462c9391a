package daemon

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hfbroker/hfbroker/internal/client"
	"github.com/hfbroker/hfbroker/internal/hubtest"
	"github.com/hfbroker/hfbroker/internal/testutil"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// TestDaemonServesAndStopsCleanly runs a whole daemon in-process: it serves
// a token added over the socket back as a lease, reports its status, and
// leaves no goroutine and no socket behind once its context ends.
func TestDaemonServesAndStopsCleanly(t *testing.T) {
	checkNoLeaks(t)
	d := startTestDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, err := client.Dial(ctx, client.Options{Socket: d.sock, NoAutostart: true, Env: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	lease, err := c.Lease(ctx, &pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_TOKEN})
	if err != nil {
		t.Fatalf("Lease: %v", err)
	}
	if lease.GetToken() != d.token || lease.GetProfile() != "laptop" || lease.GetUser() != "alice" {
		t.Fatalf("lease = profile %q user %q, token matches: %v", lease.GetProfile(), lease.GetUser(), lease.GetToken() == d.token)
	}
	st, err := c.Status(ctx, &pb.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.GetBackend() != "memory" || st.GetProfileCount() != 1 || st.GetPid() != int32(os.Getpid()) || st.GetSocket() != d.sock {
		t.Fatalf("status = %v", st)
	}
	c.Close()

	if err := d.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := os.Stat(d.sock); !os.IsNotExist(err) {
		t.Fatalf("socket left behind after a clean stop: %v", err)
	}
	if strings.Contains(d.logs.String(), d.token) {
		t.Fatal("the daemon's log holds the token")
	}
	if !strings.Contains(d.logs.String(), "method=Lease") {
		t.Fatalf("debug log has no access line for Lease:\n%s", d.logs)
	}
}

// checkNoLeaks fails t if goroutines started during it outlive it and its
// cleanups (which stop the daemon and the fake Hub).
func checkNoLeaks(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
}

// testDaemon is an in-process daemon (memory backend, a fake Hub) with one
// stored token, profile "laptop" of user "alice".
type testDaemon struct {
	sock  string
	hub   *hubtest.Hub
	token string
	logs  *testutil.SyncBuffer
	stop  func() error // stops the daemon and returns Run's error
}

func startTestDaemon(t *testing.T) *testDaemon {
	t.Helper()
	return startTestDaemonWith(t, nil)
}

// startTestDaemonWith is startTestDaemon with opts adjusted by adjust before
// Run (a listener of its own, shorter limits).
func startTestDaemonWith(t *testing.T, adjust func(*Options)) *testDaemon {
	t.Helper()
	hub := hubtest.New(t)
	hub.AddUser("alice", "Alice Example")
	tok := hub.AddToken("alice", hubtest.TokenSpec{Role: "write", DisplayName: "laptop"})
	t.Cleanup(hub.Close)

	sockDir, err := os.MkdirTemp("", "hfbl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	d := &testDaemon{sock: filepath.Join(sockDir, "d.sock"), hub: hub, token: tok, logs: &testutil.SyncBuffer{}}
	env := map[string]string{"HOME": t.TempDir(), "HFBROKER_BACKEND": "memory", "HF_ENDPOINT": hub.URL()}
	getenv := func(k string) string { return env[k] }

	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	opts := Options{Env: getenv, Socket: d.sock, NoHarden: true, StopTimeout: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(d.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Ready:  func(string) { close(ready) }}
	if adjust != nil {
		adjust(&opts)
		if opts.Listener != nil {
			d.sock = opts.Listener.Addr().String()
		}
	}
	go func() { done <- Run(ctx, opts) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("daemon stopped before serving: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not start")
	}
	var once sync.Once
	var runErr error
	d.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				runErr = errors.New("daemon did not stop within 30s")
			}
		})
		return runErr
	}
	t.Cleanup(func() { d.stop() })

	c, err := client.Dial(ctx, client.Options{Env: getenv, Socket: d.sock, NoAutostart: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.AddToken(ctx, &pb.AddTokenRequest{Token: tok, Endpoint: hub.URL()}); err != nil {
		t.Fatalf("AddToken: %v", err)
	}
	return d
}
