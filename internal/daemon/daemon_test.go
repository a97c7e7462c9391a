package daemon

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hfbroker/hfbroker/internal/client"
	"github.com/hfbroker/hfbroker/internal/hubtest"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// TestDaemonServesAndStopsCleanly runs a whole daemon in-process: it serves
// a token added over the socket back as a lease, reports its status, and
// leaves no goroutine behind once its context ends.
func TestDaemonServesAndStopsCleanly(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	hub := hubtest.New(t)
	hub.AddUser("alice", "Alice Example")
	tok := hub.AddToken("alice", hubtest.TokenSpec{Role: "write", DisplayName: "laptop"})

	home := t.TempDir()
	sockDir, err := os.MkdirTemp("", "hfbd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "d.sock")
	env := map[string]string{"HOME": home, "HFBROKER_BACKEND": "memory", "HF_ENDPOINT": hub.URL()}
	getenv := func(k string) string { return env[k] }

	var logs strings.Builder
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Env: getenv, Socket: sock, NoHarden: true,
			Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			Ready:  func(string) { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("daemon stopped before serving: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not start")
	}

	c, err := client.Dial(ctx, client.Options{Env: getenv, Socket: sock, NoAutostart: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddToken(ctx, &pb.AddTokenRequest{Token: tok, Endpoint: hub.URL()}); err != nil {
		t.Fatalf("AddToken: %v", err)
	}
	lease, err := c.Lease(ctx, &pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_TOKEN})
	if err != nil {
		t.Fatalf("Lease: %v", err)
	}
	if lease.GetToken() != tok || lease.GetProfile() != "laptop" || lease.GetUser() != "alice" {
		t.Fatalf("lease = profile %q user %q, token matches: %v", lease.GetProfile(), lease.GetUser(), lease.GetToken() == tok)
	}
	st, err := c.Status(ctx, &pb.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.GetBackend() != "memory" || st.GetProfileCount() != 1 || st.GetPid() != int32(os.Getpid()) || st.GetSocket() != sock {
		t.Fatalf("status = %v", st)
	}
	c.Close()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not stop")
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("socket left behind after a clean stop: %v", err)
	}
	if strings.Contains(logs.String(), tok) {
		t.Fatal("the daemon's log holds the token")
	}
	if !strings.Contains(logs.String(), "method=Lease") {
		t.Fatalf("debug log has no access line for Lease:\n%s", logs.String())
	}
	hub.Close()
}
