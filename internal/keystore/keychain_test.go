package keystore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zalando/go-keyring"
)

// fakeKeyring is a keyringBackend in a map. It is only ever called from the
// worker goroutine, but guards itself anyway so tests may inspect it.
type fakeKeyring struct {
	mu    sync.Mutex
	items map[[2]string]string
	calls atomic.Int32
	// block, when set, makes every call wait until it is closed.
	block chan struct{}
	// entered receives once per call, after the call started (buffered).
	entered chan struct{}
	// err, when set, is returned by every call.
	err error
}

func newFakeKeyring() *fakeKeyring {
	return &fakeKeyring{items: map[[2]string]string{}, entered: make(chan struct{}, 100)}
}

func (f *fakeKeyring) start() error {
	f.calls.Add(1)
	select {
	case f.entered <- struct{}{}:
	default:
	}
	if f.block != nil {
		<-f.block
	}
	return f.err
}

func (f *fakeKeyring) Get(service, user string) (string, error) {
	if err := f.start(); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.items[[2]string{service, user}]
	if !ok {
		return "", keyring.ErrNotFound
	}
	return v, nil
}

func (f *fakeKeyring) Set(service, user, password string) error {
	if err := f.start(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.items[[2]string{service, user}] = password
	return nil
}

func (f *fakeKeyring) Delete(service, user string) error {
	if err := f.start(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.items[[2]string{service, user}]; !ok {
		return keyring.ErrNotFound
	}
	delete(f.items, [2]string{service, user})
	return nil
}

// newTestKeychain returns a Keychain over b that is closed at the end of
// the test.
func newTestKeychain(t *testing.T, b keyringBackend, opts KeychainOptions) *Keychain {
	t.Helper()
	k := newKeychain(b, opts)
	t.Cleanup(func() {
		if err := k.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return k
}

func TestKeychainWorkerConformance(t *testing.T) {
	// The worker plumbing in front of a well-behaved keychain behaves like
	// every other Store.
	testStoreConformance(t, func(t *testing.T) Store {
		return newTestKeychain(t, newFakeKeyring(), KeychainOptions{})
	})
}

func TestKeychainDefaultsToServiceHfbroker(t *testing.T) {
	k := NewKeychain(KeychainOptions{})
	defer k.Close()
	if got := k.Service(); got != "hfbroker" {
		t.Errorf("default service = %q, want %q", got, "hfbroker")
	}
	if k.timeout != 5*time.Second {
		t.Errorf("default timeout = %v, want 5s", k.timeout)
	}
}

func TestKeychainStoresOneItemPerProfileUnderItsService(t *testing.T) {
	fake := newFakeKeyring()
	k := newTestKeychain(t, fake, KeychainOptions{Service: "svc-x"})
	if err := k.Set(context.Background(), "work", tokA); err != nil {
		t.Fatal(err)
	}
	if got := fake.items[[2]string{"svc-x", "work"}]; got != tokA.Reveal() {
		t.Errorf("item (svc-x, work) holds %d bytes, want the token", len(got))
	}
	if len(fake.items) != 1 {
		t.Errorf("keychain holds %d items, want 1", len(fake.items))
	}
}

func TestKeychainStuckCallTimesOutAndLaterCallsFailFast(t *testing.T) {
	fake := newFakeKeyring()
	fake.block = make(chan struct{})
	k := newTestKeychain(t, fake, KeychainOptions{Timeout: 100 * time.Millisecond})
	ctx := context.Background()

	_, err := k.Get(ctx, "work")
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Get on a stuck keychain = %v, want ErrTimeout", err)
	}
	if !errors.Is(err, ErrLocked) {
		t.Errorf("ErrTimeout from a stuck call does not match ErrLocked: %v", err)
	}

	// While the first call is stuck, later calls neither reach the keychain
	// nor queue behind it: they fail at once with ErrTimeout. The generous
	// context deadline shows they did not just wait out their own timer.
	long, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, call := range []func() error{
		func() error { _, err := k.Get(long, "work"); return err },
		func() error { return k.Set(long, "work", tokA) },
		func() error { return k.Delete(long, "work") },
		func() error { return k.Probe(long) },
	} {
		if err := call(); !errors.Is(err, ErrTimeout) {
			t.Errorf("call while stuck = %v, want ErrTimeout", err)
		}
	}
	// A caller whose own timeout is a minute is turned away too, rather
	// than waiting that minute out in the queue.
	quick := make(chan error, 1)
	go func() {
		_, err := k.doWithin(long, time.Minute, func(b keyringBackend) (string, error) { return b.Get(k.service, "work") })
		quick <- err
	}()
	select {
	case err := <-quick:
		if !errors.Is(err, ErrTimeout) {
			t.Errorf("call with a long timeout while stuck = %v, want ErrTimeout", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a call made while the keychain was stuck queued instead of failing fast")
	}
	if n := fake.calls.Load(); n != 1 {
		t.Errorf("the keychain saw %d calls while stuck, want 1", n)
	}

	// Once the stuck call returns, the keychain takes calls again.
	close(fake.block)
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := k.Set(ctx, "work", tokA)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrTimeout) || time.Now().After(deadline) {
			t.Fatalf("Set after the stuck call returned = %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got, err := k.Get(ctx, "work"); err != nil || got != tokA {
		t.Fatalf("Get after recovery = %v, %v", got, err)
	}
}

func TestKeychainCallersWaitingBehindAStuckCallFailFast(t *testing.T) {
	fake := newFakeKeyring()
	fake.block = make(chan struct{})
	defer close(fake.block)
	k := newKeychain(fake, KeychainOptions{Timeout: 200 * time.Millisecond})
	ctx := context.Background()

	first := make(chan error, 1)
	go func() { _, err := k.Get(ctx, "a"); first <- err }()
	<-fake.entered // the worker is now inside the first call

	// A second caller with its own long deadline queues behind the stuck
	// call; when the first caller gives up, the second must be told too,
	// not left waiting for its own minute.
	long, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	second := make(chan error, 1)
	go func() {
		_, err := k.doWithin(long, time.Minute, func(b keyringBackend) (string, error) { return b.Get(k.service, "b") })
		second <- err
	}()

	if err := <-first; !errors.Is(err, ErrTimeout) {
		t.Fatalf("first call = %v, want ErrTimeout", err)
	}
	select {
	case err := <-second:
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("second call = %v, want ErrTimeout", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the caller queued behind a stuck call was not released")
	}
	if err := k.Close(); !errors.Is(err, ErrTimeout) {
		t.Errorf("Close with a stuck call = %v, want ErrTimeout", err)
	}
}

func TestKeychainCallerDeadlineShorterThanTimeoutWins(t *testing.T) {
	fake := newFakeKeyring()
	fake.block = make(chan struct{})
	k := newTestKeychain(t, fake, KeychainOptions{Timeout: time.Hour})
	defer close(fake.block)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := k.Get(ctx, "work")
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get with a passed context deadline = %v, want ErrTimeout and DeadlineExceeded", err)
	}
}

func TestKeychainCancelledCallerDoesNotMarkTheKeychainStuck(t *testing.T) {
	fake := newFakeKeyring()
	fake.block = make(chan struct{})
	k := newTestKeychain(t, fake, KeychainOptions{Timeout: time.Hour})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := k.Get(ctx, "work"); done <- err }()
	<-fake.entered
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("cancelled Get = %v, want context.Canceled and not ErrTimeout", err)
	}
	close(fake.block)
	// The next call waits its turn and succeeds rather than failing fast.
	if err := k.Set(context.Background(), "work", tokA); err != nil {
		t.Fatalf("Set after a cancelled call = %v", err)
	}
}

func TestKeychainCloseStopsTheIdleWorker(t *testing.T) {
	k := newKeychain(newFakeKeyring(), KeychainOptions{})
	if err := k.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	select {
	case <-k.done:
	default:
		t.Fatal("the worker is still running after Close returned")
	}
	if err := k.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := k.Get(context.Background(), "work"); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close = %v, want ErrClosed", err)
	}
	if err := k.Set(context.Background(), "work", tokA); !errors.Is(err, ErrClosed) {
		t.Errorf("Set after Close = %v, want ErrClosed", err)
	}
}

func TestKeychainCloseWithAStuckCallReturnsAndTheWorkerExitsLater(t *testing.T) {
	fake := newFakeKeyring()
	fake.block = make(chan struct{})
	k := newKeychain(fake, KeychainOptions{Timeout: 100 * time.Millisecond})
	if _, err := k.Get(context.Background(), "work"); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Get = %v, want ErrTimeout", err)
	}
	if err := k.Close(); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Close with a stuck call = %v, want ErrTimeout", err)
	}
	// The stuck call returns eventually; the worker then exits (goleak in
	// TestMain would report it otherwise).
	close(fake.block)
	select {
	case <-k.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not exit after the stuck call returned")
	}
}

func TestKeychainRefusesEmptyNamesWithoutCallingTheKeychain(t *testing.T) {
	fake := newFakeKeyring()
	k := newTestKeychain(t, fake, KeychainOptions{})
	ctx := context.Background()
	if _, err := k.Get(ctx, ""); !errors.Is(err, ErrInvalidName) {
		t.Errorf("Get(\"\") = %v", err)
	}
	if err := k.Set(ctx, "", tokA); !errors.Is(err, ErrInvalidName) {
		t.Errorf("Set(\"\") = %v", err)
	}
	if err := k.Delete(ctx, ""); !errors.Is(err, ErrInvalidName) {
		t.Errorf("Delete(\"\") = %v", err)
	}
	if n := fake.calls.Load(); n != 0 {
		t.Errorf("the keychain saw %d calls, want 0", n)
	}
}

func TestKeychainErrorThatEchoesTheTokenIsWithheld(t *testing.T) {
	fake := newFakeKeyring()
	fake.err = fmt.Errorf("failed to unlock correct collection while storing %s", tokA.Reveal())
	k := newTestKeychain(t, fake, KeychainOptions{})
	err := k.Set(context.Background(), "work", tokA)
	if !errors.Is(err, ErrLocked) {
		t.Errorf("Set = %v, want ErrLocked kept", masked(err))
	}
	assertNoToken(t, err, tokA)

	fake.err = fmt.Errorf("strange failure %s", tokA.Reveal())
	err = k.Set(context.Background(), "work", tokA)
	if err == nil {
		t.Fatal("Set succeeded")
	}
	assertNoToken(t, err, tokA)
}

func TestKeychainProbe(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		block   bool
		wantErr error
	}{
		{name: "a keychain that answers not found is usable", wantErr: nil},
		{name: "a locked keychain is reported locked", err: errors.New("failed to unlock correct collection '/org/freedesktop/secrets/aliases/default'"), wantErr: ErrLocked},
		{name: "a missing Secret Service is reported as no keychain", err: errors.New("The name org.freedesktop.secrets was not provided by any .service files"), wantErr: ErrNoKeychain},
		{name: "a keychain that never answers times out", block: true, wantErr: ErrTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFakeKeyring()
			fake.err = tc.err
			if tc.block {
				fake.block = make(chan struct{})
			}
			k := newKeychain(fake, KeychainOptions{})
			defer func() {
				if tc.block {
					close(fake.block) // let the stuck call return, so Close finds the worker idle
				}
				if err := k.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			err := k.Probe(ctx)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Probe = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Probe = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestClassifyMapsGoKeyringErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error // nil: passed through unchanged
	}{
		{"keyring.ErrNotFound is ErrNotFound", keyring.ErrNotFound, ErrNotFound},
		{"an unsupported platform has no keychain", keyring.ErrUnsupportedPlatform, ErrNoKeychain},
		{"a collection that fails to unlock is locked", errors.New("failed to unlock correct collection '/org/freedesktop/secrets/collection/login'"), ErrLocked},
		{"a dismissed prompt is locked", errors.New("prompt dismissed"), ErrLocked},
		{"a missing dbus-launch means no keychain", &exec.Error{Name: "dbus-launch", Err: exec.ErrNotFound}, ErrNoKeychain},
		{"dbus-launch named in text means no keychain", errors.New(`exec: "dbus-launch": executable file not found in $PATH`), ErrNoKeychain},
		{"no secrets service on the bus means no keychain", errors.New("The name org.freedesktop.secrets was not provided by any .service files"), ErrNoKeychain},
		{"no session bus address means no keychain", errors.New("dbus: couldn't determine address of session bus"), ErrNoKeychain},
		{"a bus socket that is not there means no keychain", &net.OpError{Op: "dial", Net: "unix", Err: errors.New("connect: no such file or directory")}, ErrNoKeychain},
		{"an unknown error passes through", errors.New("something else"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := classify(tc.err)
			if tc.want == nil {
				if got != tc.err {
					t.Fatalf("classify = %v, want the error unchanged", got)
				}
				return
			}
			if !errors.Is(got, tc.want) {
				t.Fatalf("classify(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
	if classify(nil) != nil {
		t.Error("classify(nil) != nil")
	}
}

// Issue 19: on a GPU server over SSH, `hfbroker status` showed the probe's
// internals (`exec: "dbus-launch": executable file not found in $PATH`).
// Unusable says what they mean.
func TestUnusableSaysNoSecretServiceInsteadOfTheProbesInternals(t *testing.T) {
	noBus := "no Secret Service on this machine (no D-Bus session)"
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"no dbus-launch", &exec.Error{Name: "dbus-launch", Err: exec.ErrNotFound}, noBus},
		{"dbus-launch in the text", errors.New(`exec: "dbus-launch": executable file not found in $PATH`), noBus},
		{"no session bus address", errors.New("dbus: couldn't determine address of session bus"), noBus},
		{"a bus address that does not answer", &net.OpError{Op: "dial", Net: "unix", Err: errors.New("connect: no such file or directory")}, noBus},
		{"a bus without the Secret Service", errors.New("The name org.freedesktop.secrets was not provided by any .service files"),
			"no Secret Service on this machine (nothing on the D-Bus session provides it)"},
		{"a prompt nobody answers", ErrTimeout, "the keychain did not answer in time"},
		{"a locked collection", errors.New("prompt dismissed"), "the keychain is locked"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := newKeychain(failingKeyring{tc.err}, KeychainOptions{})
			defer k.Close()
			err := k.Probe(context.Background())
			if got := Unusable(err); got != tc.want {
				t.Fatalf("Unusable(%v) = %q, want %q", err, got, tc.want)
			}
		})
	}
}

// failingKeyring answers every call with err.
type failingKeyring struct{ err error }

func (f failingKeyring) Get(string, string) (string, error) { return "", f.err }
func (f failingKeyring) Set(string, string, string) error   { return f.err }
func (f failingKeyring) Delete(string, string) error        { return f.err }
