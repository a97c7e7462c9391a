package broker

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hfbroker/hfbroker/internal/keystore"
)

// fakeVault is a Lockable memory store whose passphrase is "right".
type fakeVault struct {
	*keystore.Memory
	mu     sync.Mutex
	exists bool
	locked bool
}

func (v *fakeVault) Kind() string { return keystore.KindFile }
func (v *fakeVault) Lock()        { v.mu.Lock(); v.locked = true; v.mu.Unlock() }
func (v *fakeVault) Locked() bool { v.mu.Lock(); defer v.mu.Unlock(); return v.locked }
func (v *fakeVault) Path() string { return "/home/alice/.local/share/hfbroker/vault.age" }
func (v *fakeVault) Exists() (bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.exists, nil
}
func (v *fakeVault) Unlock(_ context.Context, pass []byte) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.exists {
		return keystore.ErrNoVault
	}
	if string(pass) != "right" {
		return keystore.ErrBadPassphrase
	}
	v.locked = false
	return nil
}
func (v *fakeVault) Create(_ context.Context, pass []byte) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.exists {
		return keystore.ErrVaultExists
	}
	v.exists, v.locked = true, false
	return nil
}
func (v *fakeVault) ChangePassphrase(_ context.Context, oldPass, _ []byte) error {
	if string(oldPass) != "right" {
		return keystore.ErrBadPassphrase
	}
	return nil
}

func newVaultBroker(t *testing.T, v *fakeVault) *Broker {
	t.Helper()
	b, err := New(Options{
		Store:    v,
		Profiles: &MemoryProfiles{},
		Procs:    &fakeProcs{start: map[int]uint64{}, ppid: map[int]int{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Issue 19: the wrong-passphrase delay applied per attempt, so ten parallel
// wrong unlocks waited side by side and cost 1.4 s in all. Attempts are now
// serialised and each waits out the failures before it: ten parallel
// guesses cost 0.1 + 0.2 + … + 1.0 = 5.5 s of the (fake) clock.
func TestWrongPassphraseDelayGrowsAcrossParallelUnlocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newVaultBroker(t, &fakeVault{Memory: keystore.NewMemory(), exists: true, locked: true})
		start := time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		var answered []time.Duration
		for range 10 {
			wg.Go(func() {
				_, err := b.Unlock(context.Background(), []byte("guess"), false, Caller{})
				var be *Error
				if !errors.As(err, &be) || be.Msg != "wrong passphrase" {
					t.Errorf("Unlock(guess) = %v, want wrong passphrase", err)
				}
				mu.Lock()
				answered = append(answered, time.Since(start))
				mu.Unlock()
			})
		}
		wg.Wait()
		if got, want := time.Since(start), 5500*time.Millisecond; got < want {
			t.Fatalf("10 parallel wrong unlocks took %v, want at least %v (the delays must add up)", got, want)
		}
		// The right passphrase still opens the vault, at once, and resets
		// the count.
		before := time.Now()
		if _, err := b.Unlock(context.Background(), []byte("right"), false, Caller{}); err != nil {
			t.Fatalf("Unlock(right) = %v", err)
		}
		if waited := time.Since(before); waited != 0 {
			t.Errorf("the right passphrase waited %v after the penalties were served", waited)
		}
		before = time.Now()
		b.Unlock(context.Background(), []byte("guess"), false, Caller{})
		if waited := time.Since(before); waited != 100*time.Millisecond {
			t.Errorf("first wrong guess after a success waited %v, want 100ms", waited)
		}
	})
}

// A guesser that gives up while its attempt waits its turn makes no attempt
// and does not clear the penalty for the next one.
func TestCancelledUnlockDoesNotSkipThePenalty(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newVaultBroker(t, &fakeVault{Memory: keystore.NewMemory(), exists: true, locked: true})
		for range 3 { // penalties 0.1, 0.2, 0.3 s
			b.Unlock(context.Background(), []byte("guess"), false, Caller{})
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		start := time.Now()
		b.Unlock(ctx, []byte("guess"), false, Caller{})
		// The fourth failure made unlockNext 0.4 s after the third's answer
		// only if it ran; a cancelled call did not run, so the count is 3.
		b.mu.Lock()
		fails := b.unlockFail
		b.mu.Unlock()
		if fails != 3 || time.Since(start) != 0 {
			t.Errorf("after a cancelled attempt: %d failures, %v waited; want 3, 0", fails, time.Since(start))
		}
	})
}

// Issue 19 (item 4): an unlock that does not ask to create never creates.
func TestUnlockWithoutCreateDoesNotMakeAVault(t *testing.T) {
	v := &fakeVault{Memory: keystore.NewMemory(), locked: true}
	b := newVaultBroker(t, v)
	_, err := b.Unlock(context.Background(), []byte("typo"), false, Caller{})
	var be *Error
	if !errors.As(err, &be) || be.Kind != KindInvalid || v.exists {
		t.Fatalf("Unlock(create=false) with no vault = %v (exists %v), want an error and no vault", err, v.exists)
	}
	created, err := b.Unlock(context.Background(), []byte("right"), true, Caller{})
	if err != nil || !created || !v.exists || v.Locked() {
		t.Fatalf("Unlock(create=true) = %v, %v; exists %v", created, err, v.exists)
	}
	if exists, path, ok := b.Vault(); !exists || !ok || path == "" {
		t.Errorf("Vault() = %v, %q, %v", exists, path, ok)
	}
}

// A wrong passphrase is a refusal, not a malformed request: the CLI exits 4
// ("access denied, or locked", README's exit codes), as it does for a locked
// vault, so that a script can tell it from any other failure. It was
// KindInvalid, exit 1.
func TestAWrongPassphraseIsAccessDenied(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newVaultBroker(t, &fakeVault{Memory: keystore.NewMemory(), exists: true, locked: true})
		_, err := b.Unlock(context.Background(), []byte("guess"), false, Caller{})
		if KindOf(err) != KindAccessDenied {
			t.Errorf("Unlock(wrong) = %v (kind %v), want access denied", err, KindOf(err))
		}
		err = b.ChangePassphrase(context.Background(), []byte("guess"), []byte("a new passphrase"))
		if KindOf(err) != KindAccessDenied {
			t.Errorf("ChangePassphrase(wrong) = %v (kind %v), want access denied", err, KindOf(err))
		}
	})
}
