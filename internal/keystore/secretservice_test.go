package keystore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/zalando/go-keyring"
)

// requireSecretService skips unless a D-Bus session is there to test
// against. With HFBROKER_TEST_SECRET_SERVICE=1 (set by
// scripts/with-secret-service, which CI uses) a missing bus is a failure,
// never a skip.
func requireSecretService(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the Secret Service tests run on Linux")
	}
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return
	}
	if os.Getenv("HFBROKER_TEST_SECRET_SERVICE") == "1" {
		t.Fatal("HFBROKER_TEST_SECRET_SERVICE=1 but DBUS_SESSION_BUS_ADDRESS is not set; run under scripts/with-secret-service")
	}
	t.Skip("no D-Bus session: run under scripts/with-secret-service to test against the real Secret Service")
}

// uniqueService returns a service name no other test run uses, and removes
// whatever the test leaves under it.
func uniqueService(t *testing.T) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	svc := "hfbroker-test-" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		if err := keyring.DeleteAll(svc); err != nil {
			t.Errorf("clean up service %s: %v", svc, err)
		}
	})
	return svc
}

func TestKeychainSecretServiceConformance(t *testing.T) {
	requireSecretService(t)
	testStoreConformance(t, func(t *testing.T) Store {
		// Generous per-call timeout: a loaded CI machine with 50 callers
		// queued on one worker must not see spurious timeouts.
		return newTestKeychain(t, goKeyring{}, KeychainOptions{Service: uniqueService(t), Timeout: 60 * time.Second})
	})
}

func TestKeychainSecretServiceItemIsReadableWithGoKeyring(t *testing.T) {
	requireSecretService(t)
	svc := uniqueService(t)
	k := newTestKeychain(t, goKeyring{}, KeychainOptions{Service: svc, Timeout: 30 * time.Second})
	ctx := context.Background()

	if err := k.Set(ctx, "work", tokA); err != nil {
		t.Fatalf("Set: %v", err)
	}
	// Straight from the Secret Service, not through the Keychain: the item
	// is there under (service, user = profile name).
	got, err := keyring.Get(svc, "work")
	if err != nil {
		t.Fatalf("go-keyring Get(%s, work): %v", svc, err)
	}
	if got != tokA.Reveal() {
		t.Fatalf("the keychain item holds %d bytes, want the token", len(got))
	}
	// And an item written by go-keyring reads back through the Keychain.
	if err := keyring.Set(svc, "other", tokB.Reveal()); err != nil {
		t.Fatal(err)
	}
	if tok, err := k.Get(ctx, "other"); err != nil || tok != tokB {
		t.Fatalf("Get(other) = %v, %v", tok, err)
	}
	if err := k.Delete(ctx, "work"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := keyring.Get(svc, "work"); !errors.Is(err, keyring.ErrNotFound) {
		t.Fatalf("go-keyring Get after Delete = %v, want ErrNotFound", err)
	}
}

func TestKeychainSecretServiceProbe(t *testing.T) {
	requireSecretService(t)
	k := newTestKeychain(t, goKeyring{}, KeychainOptions{Service: uniqueService(t)})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := k.Probe(ctx); err != nil {
		t.Fatalf("Probe against an unlocked Secret Service = %v", err)
	}
}

// helperNoSecretService runs in a child process whose session bus address
// points nowhere. It prints one line per call: the call and "nokeychain",
// or what went wrong.
func helperNoSecretService() int {
	k := NewKeychain(KeychainOptions{Service: "hfbroker-test-nobus"})
	defer k.Close()
	ctx := context.Background()
	calls := []struct {
		name string
		call func() error
	}{
		{"get", func() error { _, err := k.Get(ctx, "work"); return err }},
		{"set", func() error { return k.Set(ctx, "work", tokA) }},
		{"delete", func() error { return k.Delete(ctx, "work") }},
		{"probe", func() error { return k.Probe(ctx) }},
	}
	code := 0
	for _, c := range calls {
		err := c.call()
		switch {
		case err != nil && strings.Contains(err.Error(), tokA.Reveal()):
			fmt.Printf("%s: error text contains the token\n", c.name)
			code = 1
		case errors.Is(err, ErrTimeout):
			// Must fail because there is no bus, not by waiting out the
			// deadline.
			fmt.Printf("%s: timeout: %v\n", c.name, err)
			code = 1
		case errors.Is(err, ErrNoKeychain):
			fmt.Printf("%s: nokeychain\n", c.name)
		default:
			fmt.Printf("%s: unexpected: %v\n", c.name, err)
			code = 1
		}
	}
	return code
}

func TestKeychainWithoutSecretServiceFailsFastWithErrNoKeychain(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("D-Bus session bus addresses are a Linux matter")
	}
	// godbus caches the session bus connection for the whole process, so
	// this runs in a fresh child whose bus address points at nothing.
	home := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		helperEnv+"=no-secret-service",
		"DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus",
		"HOME="+home,
		"XDG_DATA_HOME="+filepath.Join(home, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"),
		"XDG_STATE_HOME="+filepath.Join(home, "state"),
		"XDG_RUNTIME_DIR="+filepath.Join(home, "run"),
		// The race detector otherwise sleeps a second at exit.
		"GORACE=atexit_sleep_ms=0",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	out := stdout.String()
	if strings.Contains(out+stderr.String(), tokA.Reveal()) {
		t.Fatal("the child printed the token")
	}
	if err != nil {
		t.Fatalf("child failed: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	want := "get: nokeychain\nset: nokeychain\ndelete: nokeychain\nprobe: nokeychain\n"
	if out != want {
		t.Fatalf("child reported:\n%s\nwant:\n%s", out, want)
	}
	// Nothing was written anywhere, in particular no plaintext fallback.
	var written []string
	filepath.WalkDir(home, func(path string, d os.DirEntry, err error) error {
		if path != home {
			written = append(written, path)
		}
		return nil
	})
	if len(written) > 0 {
		t.Errorf("the child wrote files: %v", written)
	}
}
