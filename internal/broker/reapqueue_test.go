package broker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hfbroker/hfbroker/internal/audit"
	"github.com/hfbroker/hfbroker/internal/keystore"
	"github.com/hfbroker/hfbroker/internal/secret"
)

// Issue 16 (lease p99): the reaper takes due leases from a queue instead of
// walking every live one under the broker's mutex. Whatever the grants,
// renewals and revocations, a Reap must leave live exactly the leases whose
// TTL has not passed, as the walk did.
func TestReapEndsExactlyTheLeasesPastTheirTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newReaperWorld(t)
		ctx := t.Context()
		rng := rand.New(rand.NewPCG(16, 99))
		ends := map[string]time.Time{} // lease id -> when its TTL passes
		for step := range 400 {
			switch r := rng.IntN(10); {
			case r < 6:
				ttl := time.Duration(1+rng.IntN(120)) * time.Second
				g, err := w.b.Lease(ctx, LeaseRequest{Purpose: PurposeToken, TTL: ttl})
				if err != nil {
					t.Fatal(err)
				}
				ends[g.Lease.ID] = time.Now().Add(ttl)
			case r < 8 && len(ends) > 0:
				id := pick(rng, ends)
				ttl := time.Duration(1+rng.IntN(120)) * time.Second
				if _, err := w.b.Renew(id, ttl, Caller{}); err != nil {
					t.Fatalf("step %d: renew a live lease: %v", step, err)
				}
				ends[id] = time.Now().Add(ttl)
			case r < 9 && len(ends) > 0:
				id := pick(rng, ends)
				if err := w.b.Revoke(id, Caller{}); err != nil {
					t.Fatalf("step %d: revoke a live lease: %v", step, err)
				}
				delete(ends, id)
			default:
				time.Sleep(time.Duration(rng.IntN(20)) * time.Second)
			}
			w.b.Reap()
			now := time.Now()
			var want []string
			for id, end := range ends {
				if now.Before(end) {
					want = append(want, id)
				} else {
					delete(ends, id)
				}
			}
			var got []string
			for _, l := range w.b.Leases() {
				got = append(got, l.ID)
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("step %d: live after Reap %v; want %v", step, got, want)
			}
		}
	})
}

func pick(rng *rand.Rand, m map[string]time.Time) string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids[rng.IntN(len(ids))]
}

// Renewals and revocations leave stale entries behind; they must not pile
// up while the leases they belonged to are long gone.
func TestReapQueueStaysBoundedByLiveLeases(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newReaperWorld(t)
		ctx := t.Context()
		g, err := w.b.Lease(ctx, LeaseRequest{Purpose: PurposeToken, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 20000 {
			if _, err := w.b.Renew(g.Lease.ID, time.Hour+time.Duration(i)*time.Millisecond, Caller{}); err != nil {
				t.Fatal(err)
			}
			short, err := w.b.Lease(ctx, LeaseRequest{Purpose: PurposeToken, TTL: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if err := w.b.Revoke(short.Lease.ID, Caller{}); err != nil {
				t.Fatal(err)
			}
		}
		w.b.mu.Lock()
		n := len(w.b.due.mono.es)
		w.b.mu.Unlock()
		if limit := 2*1 + 1024 + 2; n > limit {
			t.Errorf("%d queued entries for one live lease; want at most %d", n, limit)
		}
		time.Sleep(2 * time.Hour)
		w.b.Reap()
		if n := w.b.LeaseCount(); n != 0 {
			t.Fatalf("%d leases live after their TTL", n)
		}
	})
}

// A lease with a process no pidfd watches is polled: it ends when the
// process has gone, before its TTL.
func TestReapPollsUnwatchedProcesses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newReaperWorld(t)
		// pid 1<<30 does not exist, so no pidfd watches it; the fake says
		// it runs until it is deleted.
		const pid = 1 << 30
		w.procs.mu.Lock()
		w.procs.start[pid] = 7
		w.procs.mu.Unlock()
		g, err := w.b.Lease(t.Context(), LeaseRequest{Purpose: PurposeToken, TTL: time.Hour, Caller: Caller{UID: 1, PID: pid}})
		if err != nil {
			t.Fatal(err)
		}
		w.b.Reap()
		if _, live := w.b.LeaseValid(g.Lease.ID); !live {
			t.Fatal("the lease ended while its process ran")
		}
		w.procs.mu.Lock()
		delete(w.procs.start, pid)
		w.procs.mu.Unlock()
		w.b.Reap()
		if _, live := w.b.LeaseValid(g.Lease.ID); live {
			t.Fatal("the lease outlived its unwatched process")
		}
	})
}

// BenchmarkReapWithLiveLeases is one reaper wake with many live leases and
// one due: before the queue, its cost grew with the live leases (and was
// spent holding the broker's mutex).
func BenchmarkReapWithLiveLeases(b *testing.B) {
	for _, live := range []int{1000, 50000} {
		b.Run(fmt.Sprintf("live=%d", live), func(b *testing.B) {
			now := time.Now()
			clock := func() time.Time { return now }
			br := newBenchReaper(b, clock)
			for range live {
				if _, err := br.Lease(context.Background(), LeaseRequest{Purpose: PurposeToken, TTL: time.Hour}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := br.Lease(context.Background(), LeaseRequest{Purpose: PurposeToken, TTL: time.Nanosecond}); err != nil {
					b.Fatal(err)
				}
				now = now.Add(time.Microsecond)
				br.Reap()
				br.armReaper()
			}
		})
	}
}

func newBenchReaper(tb testing.TB, now func() time.Time) *Broker {
	return newLaptopBroker(tb, Options{Procs: &fakeProcs{start: map[int]uint64{}, ppid: map[int]int{}}, Now: now})
}

// Issue 16: under load a lease's deadline is always microseconds away, and
// the reaper woke for each one (one wake, one audit write per lease). It
// now ends the leases due within reapGap together, none of them more than
// reapGap after its TTL.
func TestReaperEndsABurstTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := &audit.Memory{}
		b, err := New(Options{
			Store:    keystore.NewMemory(),
			Profiles: &MemoryProfiles{},
			Procs:    &fakeProcs{start: map[int]uint64{}, ppid: map[int]int{}},
			Audit:    mem,
		})
		if err != nil {
			t.Fatal(err)
		}
		tok := secret.Token("hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh")
		if _, _, err := b.AddToken(t.Context(), AddRequest{Name: "laptop", Token: tok, Endpoint: "https://huggingface.co", NoVerify: true}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go b.Run(ctx)
		ends := map[string]time.Time{}
		for range 1000 { // one lease a millisecond, each for a second
			g, err := b.Lease(ctx, LeaseRequest{Purpose: PurposeToken, TTL: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			ends[g.Lease.ID] = g.Lease.ExpiresAt
			time.Sleep(time.Millisecond)
			synctest.Wait()
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		reaps := map[time.Time]bool{}
		for _, ev := range mem.Events() {
			if ev.Event != audit.LeaseEnded {
				continue
			}
			end, ok := ends[ev.LeaseID]
			if !ok {
				t.Fatalf("%s ended twice", ev.LeaseID)
			}
			delete(ends, ev.LeaseID)
			if late := ev.Time.Sub(end); late < 0 || late > reapGap {
				t.Errorf("%s ended %v after its TTL; want within [0, %v]", ev.LeaseID, late, reapGap)
			}
			reaps[ev.Time] = true
		}
		if len(ends) > 0 {
			t.Fatalf("%d leases never ended", len(ends))
		}
		if limit := 250; len(reaps) > limit { // at reapGap = 5 ms: 201
			t.Errorf("1,000 leases ended in %d reaps over one second; want at most %d", len(reaps), limit)
		}
	})
}

// BenchmarkProcessExitWithLiveLeases is one watched process's exit with
// many live leases that live with no process (git's, each for its TTL):
// processesExited walked every live lease, under the broker's mutex, for
// each exit the pidfd reader reported; it looks only at the leases that
// live with processes.
func BenchmarkProcessExitWithLiveLeases(b *testing.B) {
	for _, live := range []int{100, 10000} {
		b.Run(fmt.Sprintf("live=%d", live), func(b *testing.B) {
			procs := &fakeProcs{start: map[int]uint64{}, ppid: map[int]int{}}
			br := newLaptopBroker(b, Options{Procs: procs, Exits: newFakeExits()})
			procs.set(200, 1)
			for range live {
				if _, err := br.Lease(b.Context(), LeaseRequest{Purpose: PurposeGit, TTL: time.Hour, Caller: Caller{UID: 1000, PID: 200}}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				pid := 1000 + i%1000
				procs.set(pid, 1)
				g, err := br.Lease(b.Context(), LeaseRequest{Purpose: PurposeExec, TTL: time.Hour, Caller: Caller{UID: 1000, PID: pid}})
				if err != nil {
					b.Fatal(err)
				}
				procs.exit(pid)
				br.processesExited(func(p procRef) bool { return p.pid == pid })
				if _, ok := br.LeaseValid(g.Lease.ID); ok {
					b.Fatal("the exited process's lease lives on")
				}
			}
		})
	}
}

// An exit looks only at the leases that live with processes
// (reapQueue.withProcs): a git lease, which lives out its TTL with no
// process, is never among them, and a lease that ended by its TTL does not
// stay there (nor in memory) for long after.
func TestOnlyLeasesWithProcessesAreLookedAtOnAnExit(t *testing.T) {
	w := newLeaseWorld(t)
	w.procs.set(200, 1)
	if _, err := w.b.Lease(t.Context(), LeaseRequest{Purpose: PurposeGit, TTL: time.Hour, Caller: Caller{UID: 1000, PID: 200}}); err != nil {
		t.Fatal(err)
	}
	w.procs.set(100, 1)
	const n = 5000
	for range n {
		w.lease(t, 100, time.Second)
	}
	w.b.mu.Lock()
	if got := len(w.b.due.withProcs); got != n {
		t.Errorf("%d leases with processes listed, want %d (the exec leases, not the git one)", got, n)
	}
	w.b.mu.Unlock()
	w.now = w.now.Add(2 * time.Second)
	w.b.Reap() // they end by TTL; the git lease lives
	w.procs.set(101, 1)
	for range 3000 { // pushes that compact the queue
		w.lease(t, 101, time.Hour)
	}
	w.b.mu.Lock()
	defer w.b.mu.Unlock()
	if got := len(w.b.due.withProcs); got != 3000 {
		t.Errorf("%d leases with processes listed after the first %d ended, want 3000", got, n)
	}
	if got := cap(w.b.due.withProcs); got > 4*3000+1024 {
		t.Errorf("the list keeps room for %d leases, want its memory back", got)
	}
}
