package broker

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hfbroker/hfbroker/internal/keystore"
	"github.com/hfbroker/hfbroker/internal/secret"
)

// reaperWorld is a broker whose Run counts how often it wakes (each wake
// reads the clock once), inside a synctest bubble so hours pass at once.
type reaperWorld struct {
	b     *Broker
	procs *fakeProcs
	wakes atomic.Int64
	idle  atomic.Int64
}

func newReaperWorld(t *testing.T) *reaperWorld {
	w := &reaperWorld{procs: &fakeProcs{start: map[int]uint64{}, ppid: map[int]int{}}}
	b, err := New(Options{
		Store:    keystore.NewMemory(),
		Profiles: &MemoryProfiles{},
		Procs:    w.procs,
		Now:      func() time.Time { w.wakes.Add(1); return time.Now() },
		OnIdle:   func() { w.idle.Add(1) },
		MaxTTL:   24 * time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	tok := secret.Token("hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh")
	if _, _, err := b.AddToken(context.Background(), AddRequest{Name: "laptop", Token: tok, Endpoint: "https://huggingface.co", NoVerify: true}); err != nil {
		t.Fatal(err)
	}
	w.b = b
	return w
}

// Issue 16: an idle daemon sleeps. Before, the reaper ticked every 200 ms
// whether or not a lease was live (18,000 wakes an hour).
func TestReaperSleepsWithNoLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newReaperWorld(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go w.b.Run(ctx)
		synctest.Wait()
		before := w.wakes.Load()
		time.Sleep(time.Hour)
		synctest.Wait()
		if n := w.wakes.Load() - before; n != 0 {
			t.Errorf("the reaper woke %d times in an idle hour; want 0", n)
		}
	})
}

// With many live leases the reaper wakes for the next deadline (or at most
// every maxReapSleep, for the wall clock), not every ReapInterval; a lease
// granted with an earlier deadline wakes it, and the lease ends on time.
func TestReaperSleepsUntilTheNextDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newReaperWorld(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go w.b.Run(ctx)
		for range 1000 {
			if _, err := w.b.Lease(ctx, LeaseRequest{Purpose: PurposeToken, TTL: 12 * time.Hour}); err != nil {
				t.Fatal(err)
			}
		}
		short, err := w.b.Lease(ctx, LeaseRequest{Purpose: PurposeToken, TTL: 10 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		before := w.wakes.Load()
		time.Sleep(10*time.Minute + time.Nanosecond)
		synctest.Wait()
		if _, live := w.b.LeaseValid(short.Lease.ID); live {
			t.Fatal("the 10-minute lease outlived its TTL")
		}
		if n := w.b.LeaseCount(); n != 1000 {
			t.Fatalf("%d leases live; want the 1,000 long ones", n)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		// 70 minutes at one wake per maxReapSleep, each reading the clock
		// twice (arm and reap), plus the short lease's own deadline.
		limit := int64(2*(70*time.Minute/maxReapSleep) + 4)
		if n := w.wakes.Load() - before; n > limit {
			t.Errorf("the reaper read the clock %d times in 70 minutes with 1,000 long leases; want at most %d", n, limit)
		}
	})
}

// Issue 16: memory comes back. A Go map never shrinks, so after a burst the
// lease map is made anew and the daemon is told (OnIdle) to return memory.
func TestReaperGivesBackABurstsMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newReaperWorld(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go w.b.Run(ctx)
		for range shrinkAfter {
			if _, err := w.b.Lease(ctx, LeaseRequest{Purpose: PurposeToken, TTL: time.Minute}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if n := w.b.LeaseCount(); n != 0 {
			t.Fatalf("%d leases live after their TTL", n)
		}
		if n := w.idle.Load(); n != 1 {
			t.Errorf("OnIdle called %d times after the burst ended; want 1", n)
		}
	})
}
