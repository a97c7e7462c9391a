package keystore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/hfbroker/hfbroker/internal/secret"
	"go.uber.org/goleak"
)

// helperEnv selects a helper mode when the test binary re-executes itself
// (see helpers in file_test.go and secretservice_test.go).
const helperEnv = "HFBROKER_KEYSTORE_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode))
	}
	goleak.VerifyTestMain(m,
		// godbus keeps one shared session-bus connection per process
		// (dbus.SessionBus caches it and go-keyring never closes it), with
		// a reader goroutine and a context watcher. They exist only after
		// the real Secret Service tests ran, and they are by design, not
		// leaks of this package.
		goleak.IgnoreAnyFunction("github.com/godbus/dbus/v5.newConn.func1"),
		goleak.IgnoreAnyFunction("github.com/godbus/dbus/v5.(*Conn).inWorker"),
		goleak.IgnoreAnyFunction("github.com/godbus/dbus/v5.(*signalChannelData).deferredDeliver"),
	)
}

func runHelper(mode string) int {
	switch mode {
	case "rewrite-vault":
		return helperRewriteVault()
	case "no-secret-service":
		return helperNoSecretService()
	}
	fmt.Fprintf(os.Stderr, "unknown helper mode %q\n", mode)
	return 2
}

// Tokens used by the tests. They look like real tokens so that any code path
// that prints one unmasked would show it in full.
const (
	tokA secret.Token = "hf_AAAAaaaaBBBBbbbbCCCCccccDDDDdddd11"
	tokB secret.Token = "hf_EEEEeeeeFFFFffffGGGGggggHHHHhhhh22"
)

// testToken returns a distinct well-formed token for index i.
func testToken(i int) secret.Token {
	return secret.Token(fmt.Sprintf("hf_concurrent%024d", i))
}

// assertNoToken fails when err's text contains any of the tokens.
func assertNoToken(t *testing.T, err error, toks ...secret.Token) {
	t.Helper()
	if err == nil {
		return
	}
	for _, tok := range toks {
		if strings.Contains(err.Error(), tok.Reveal()) {
			t.Errorf("error text contains a token: %v", masked(err))
		}
	}
}

// masked is a helper for failure messages: it never prints error text that
// might hold a token in full, only its length and type.
func masked(err error) string { return fmt.Sprintf("%T (%d bytes)", err, len(err.Error())) }

// testStoreConformance checks the behaviour every Store shares. newStore
// returns a fresh, usable (unlocked) store.
func testStoreConformance(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()

	t.Run("a missing profile reads as ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		_, err := s.Get(ctx, "nobody")
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get(nobody) = %v, want ErrNotFound", err)
		}
	})

	t.Run("a stored token reads back", func(t *testing.T) {
		s := newStore(t)
		if err := s.Set(ctx, "work", tokA); err != nil {
			t.Fatalf("Set: %v", err)
		}
		got, err := s.Get(ctx, "work")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if got != tokA {
			t.Fatalf("Get = %v, want %v", got, tokA)
		}
	})

	t.Run("a second Set overwrites the first", func(t *testing.T) {
		s := newStore(t)
		if err := s.Set(ctx, "work", tokA); err != nil {
			t.Fatalf("Set A: %v", err)
		}
		if err := s.Set(ctx, "work", tokB); err != nil {
			t.Fatalf("Set B: %v", err)
		}
		got, err := s.Get(ctx, "work")
		if err != nil || got != tokB {
			t.Fatalf("Get = %v, %v; want %v", got, err, tokB)
		}
	})

	t.Run("profiles are independent", func(t *testing.T) {
		s := newStore(t)
		if err := s.Set(ctx, "a@org", tokA); err != nil {
			t.Fatalf("Set a: %v", err)
		}
		if err := s.Set(ctx, "b.ci_1-x", tokB); err != nil {
			t.Fatalf("Set b: %v", err)
		}
		if got, err := s.Get(ctx, "a@org"); err != nil || got != tokA {
			t.Fatalf("Get a = %v, %v; want %v", got, err, tokA)
		}
		if got, err := s.Get(ctx, "b.ci_1-x"); err != nil || got != tokB {
			t.Fatalf("Get b = %v, %v; want %v", got, err, tokB)
		}
	})

	t.Run("a deleted profile reads as ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		if err := s.Set(ctx, "work", tokA); err != nil {
			t.Fatalf("Set: %v", err)
		}
		if err := s.Delete(ctx, "work"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := s.Get(ctx, "work"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get after Delete = %v, want ErrNotFound", err)
		}
	})

	t.Run("deleting a missing profile is ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		if err := s.Delete(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Delete(nobody) = %v, want ErrNotFound", err)
		}
	})

	t.Run("the empty name is refused", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Get(ctx, ""); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Get(\"\") = %v, want ErrInvalidName", err)
		}
		if err := s.Set(ctx, "", tokA); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Set(\"\") = %v, want ErrInvalidName", err)
		}
		if err := s.Delete(ctx, ""); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Delete(\"\") = %v, want ErrInvalidName", err)
		}
	})

	t.Run("the empty token is refused", func(t *testing.T) {
		s := newStore(t)
		if err := s.Set(ctx, "work", ""); !errors.Is(err, secret.ErrEmpty) {
			t.Errorf("Set(empty token) = %v, want secret.ErrEmpty", err)
		}
	})

	t.Run("errors never contain the token", func(t *testing.T) {
		s := newStore(t)
		if err := s.Set(ctx, "work", tokA); err != nil {
			t.Fatalf("Set: %v", err)
		}
		for _, err := range []error{
			func() error { _, err := s.Get(ctx, "missing"); return err }(),
			s.Delete(ctx, "missing"),
			s.Set(ctx, "", tokA),
		} {
			if err == nil {
				t.Fatal("expected an error")
			}
			assertNoToken(t, err, tokA)
		}
	})

	t.Run("50 goroutines set and get concurrently", func(t *testing.T) {
		s := newStore(t)
		if err := s.Set(ctx, "shared", tokA); err != nil {
			t.Fatalf("Set shared: %v", err)
		}
		const n = 50
		var wg sync.WaitGroup
		errs := make(chan error, 3*n)
		for i := range n {
			wg.Go(func() {
				name := fmt.Sprintf("p%d", i)
				tok := testToken(i)
				if err := s.Set(ctx, name, tok); err != nil {
					errs <- fmt.Errorf("Set %s: %w", name, err)
					return
				}
				got, err := s.Get(ctx, name)
				if err != nil {
					errs <- fmt.Errorf("Get %s: %w", name, err)
					return
				}
				if got != tok {
					errs <- fmt.Errorf("Get %s returned another token (%s)", name, got.Fingerprint())
				}
				if got, err := s.Get(ctx, "shared"); err != nil || got != tokA {
					errs <- fmt.Errorf("Get shared = %s, %v", got.Fingerprint(), err)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for i := range n {
			name := fmt.Sprintf("p%d", i)
			if got, err := s.Get(ctx, name); err != nil || got != testToken(i) {
				t.Errorf("after the run, Get %s = %s, %v", name, got.Fingerprint(), err)
			}
		}
	})
}

func TestMemoryConformance(t *testing.T) {
	testStoreConformance(t, func(*testing.T) Store { return NewMemory() })
}

func TestKindNamesTheBackend(t *testing.T) {
	f, err := NewFile(t.TempDir()+"/vault.age", FileOptions{WorkFactor: 1})
	if err != nil {
		t.Fatal(err)
	}
	k := newKeychain(newFakeKeyring(), KeychainOptions{})
	defer k.Close()
	for _, tc := range []struct {
		store Store
		want  string
	}{
		{NewMemory(), "memory"},
		{f, "file"},
		{k, "keychain"},
	} {
		if got := tc.store.Kind(); got != tc.want {
			t.Errorf("%T.Kind() = %q, want %q", tc.store, got, tc.want)
		}
	}
}

func TestErrTimeoutAlsoMeansLocked(t *testing.T) {
	wrapped := fmt.Errorf("read token %q from keychain: %w", "work", ErrTimeout)
	if !errors.Is(wrapped, ErrTimeout) {
		t.Error("a wrapped ErrTimeout does not match ErrTimeout")
	}
	if !errors.Is(wrapped, ErrLocked) {
		t.Error("a wrapped ErrTimeout does not match ErrLocked")
	}
	if errors.Is(fmt.Errorf("x: %w", ErrLocked), ErrTimeout) {
		t.Error("ErrLocked matches ErrTimeout; only the reverse should hold")
	}
}
