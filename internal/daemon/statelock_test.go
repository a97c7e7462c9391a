//go:build !windows

package daemon

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// Two daemons of one user on two sockets (a shell without XDG_RUNTIME_DIR,
// as cron, su and sudo -u give, falls back to a socket in the temp
// directory) shared one token store and one profiles file, and each
// rewrote them from its own memory: a token logged in through one was
// erased by the next login through the other. A second daemon on the same
// store now refuses to start and names the socket to use; once the first
// stops, the lock is free again.
func TestASecondDaemonOnAnotherSocketDoesNotShareTheTokenStore(t *testing.T) {
	w := newRestartWorld(t, "memory")
	stop := w.start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := w.client().AddToken(ctx, &pb.AddTokenRequest{Token: w.token, Endpoint: w.hub.URL()}); err != nil {
		t.Fatal(err)
	}

	other := filepath.Join(filepath.Dir(w.sock), "other", "d.sock")
	if err := os.MkdirAll(filepath.Dir(other), 0o700); err != nil {
		t.Fatal(err)
	}
	run := func() (served bool, err error) {
		rctx, rcancel := context.WithCancel(context.Background())
		defer rcancel()
		ready := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- Run(rctx, Options{Env: w.getenv, Socket: other, NoHarden: true, StopTimeout: 5 * time.Second,
				Logger: slog.New(slog.NewTextHandler(w.logs, nil)), Ready: func(string) { close(ready) }})
		}()
		select {
		case <-ready:
			rcancel()
			<-done
			return true, nil
		case err := <-done:
			return false, err
		case <-time.After(30 * time.Second):
			t.Fatal("the second daemon neither served nor stopped")
			return false, nil
		}
	}
	served, err := run()
	if served {
		t.Fatal("a second daemon served the same user's tokens on another socket")
	}
	if err == nil || !strings.Contains(err.Error(), "another hfbrokerd already keeps this user's tokens") ||
		!strings.Contains(err.Error(), "HFBROKER_SOCKET="+w.sock) {
		t.Fatalf("second daemon: %v, want a refusal naming %s", err, w.sock)
	}
	if strings.Contains(err.Error(), w.token) {
		t.Fatal("the error holds the token")
	}

	stop()
	if served, err := run(); !served {
		t.Fatalf("after the first daemon stopped, another could not start: %v", err)
	}
}

// A state directory whose filesystem takes no locks (a home on NFS mounted
// without a lock manager) must not keep the daemon from starting, as it
// started before the lock: it starts, and its log says what it cannot
// promise.
func TestAStateDirectoryThatTakesNoLocksStillStartsTheDaemon(t *testing.T) {
	for _, errno := range []error{unix.ENOLCK, unix.EOPNOTSUPP} {
		old := flock
		flock = func(int, int) error { return errno }
		unlock, err := lockState(t.TempDir(), "/run/user/1/hfbroker/hfbrokerd.sock")
		flock = old
		var unsupported *stateLockUnsupported
		if !errors.As(err, &unsupported) || unlock == nil {
			t.Fatalf("%v: lockState = %v, want a stateLockUnsupported and an unlock", errno, err)
		}
		unlock()
	}
	old := flock
	flock = func(int, int) error { return unix.EIO }
	defer func() { flock = old }()
	if _, err := lockState(t.TempDir(), "s"); err == nil || errors.As(err, new(*stateLockUnsupported)) {
		t.Fatalf("an I/O error from flock = %v, want a refusal", err)
	}
}
