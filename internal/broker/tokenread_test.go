package broker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hfbroker/hfbroker/internal/audit"
	"github.com/hfbroker/hfbroker/internal/keystore"
	"github.com/hfbroker/hfbroker/internal/secret"
)

// slowStore is a memory store whose Gets wait for release and are counted.
type slowStore struct {
	keystore.Store
	gets    atomic.Int32
	release chan struct{}
}

func (s *slowStore) Get(ctx context.Context, name string) (secret.Token, error) {
	s.gets.Add(1)
	select {
	case <-s.release:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return s.Store.Get(ctx, name)
}

func newSlowWorld(t *testing.T) (*Broker, *slowStore, secret.Token) {
	t.Helper()
	tok := secret.Token("hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh")
	store := &slowStore{Store: keystore.NewMemory(), release: make(chan struct{})}
	procs := &fakeProcs{start: map[int]uint64{}, ppid: map[int]int{}}
	b, err := New(Options{Store: store, Profiles: &MemoryProfiles{},
		Procs: procs, Audit: &audit.Memory{}, MaxTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.AddToken(context.Background(), AddRequest{Name: "laptop", Token: tok, Endpoint: "https://huggingface.co", NoVerify: true}); err != nil {
		t.Fatal(err)
	}
	b.ForgetTokens() // AddToken cached it; start cold, as a fresh daemon does
	return b, store, tok
}

// TestConcurrentFirstReadsShareOneStoreRead: a burst of leases on a cold
// cache reads the keychain once, not once per caller (which queued behind
// the keychain's deadline and failed under 256 clients).
func TestConcurrentFirstReadsShareOneStoreRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, store, tok := newSlowWorld(t)
		const callers = 64
		var wg sync.WaitGroup
		errs := make(chan error, callers)
		for range callers {
			wg.Go(func() {
				got, err := b.token(context.Background(), "laptop")
				if err == nil && got != tok {
					err = errors.New("wrong token")
				}
				errs <- err
			})
		}
		// Every caller has reached the read (or its wait on it) before it
		// completes.
		synctest.Wait()
		if n := store.gets.Load(); n != 1 {
			t.Fatalf("%d store reads in flight for %d concurrent callers; want 1", n, callers)
		}
		close(store.release)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if n := store.gets.Load(); n != 1 {
			t.Fatalf("%d store reads for %d concurrent callers; want 1", n, callers)
		}
		// Cached now.
		if _, err := b.token(context.Background(), "laptop"); err != nil || store.gets.Load() != 1 {
			t.Fatalf("after the read: %v, %d store reads", err, store.gets.Load())
		}
	})
}

// TestAReaderGivingUpDoesNotFailTheOthers: the caller whose read is in
// flight goes away (its client hung up); the callers waiting on that read
// get the token from a read of their own.
func TestAReaderGivingUpDoesNotFailTheOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, store, tok := newSlowWorld(t)
		leaderCtx, leaderGone := context.WithCancel(context.Background())
		leaderErr := make(chan error, 1)
		go func() {
			_, err := b.token(leaderCtx, "laptop")
			leaderErr <- err
		}()
		synctest.Wait() // the leader's read is in flight
		waiterGot := make(chan error, 1)
		go func() {
			got, err := b.token(context.Background(), "laptop")
			if err == nil && got != tok {
				err = errors.New("wrong token")
			}
			waiterGot <- err
		}()
		synctest.Wait() // the waiter waits on the leader's read
		if n := store.gets.Load(); n != 1 {
			t.Fatalf("%d store reads before the leader gave up; want 1", n)
		}
		leaderGone()
		if err := <-leaderErr; err == nil {
			t.Fatal("the caller whose context ended got a token")
		}
		close(store.release)
		if err := <-waiterGot; err != nil {
			t.Fatalf("waiter: %v", err)
		}
		if n := store.gets.Load(); n != 2 {
			t.Fatalf("%d store reads; want 2 (the abandoned one and the waiter's own)", n)
		}
	})
}
