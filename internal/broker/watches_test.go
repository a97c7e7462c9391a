package broker

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hfbroker/hfbroker/internal/audit"
)

// watchCount is how many processes the broker holds a watch for.
func watchCount(b *Broker) int {
	b.watchMu.Lock()
	defer b.watchMu.Unlock()
	return len(b.watches)
}

// Issue 16, item 4: one watch per process, shared by all its live leases:
// the second lease of a process opens nothing, the first to end keeps the
// watch for the other, and the last to end (revoked, or past its TTL)
// removes it, so a process that holds no lease holds no pidfd of the
// daemon's and its exit wakes no one. Before, the watch stayed until the
// process exited. A lease after that opens a watch again.
func TestTheLastLeaseOfAProcessEndingRemovesItsWatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		procs := &fakeProcs{start: map[int]uint64{}, ppid: map[int]int{}}
		procs.set(100, 5)
		exits := &countingExits{fakeExits: newFakeExits()}
		b := newLaptopBroker(t, Options{Procs: procs, Exits: exits, Audit: &audit.Memory{}})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go b.Run(ctx)
		caller := Caller{UID: 1000, PID: 100, Process: &fakeCallerProcess{start: 5}}
		lease := func(ttl time.Duration) string {
			t.Helper()
			g, err := b.Lease(ctx, LeaseRequest{Purpose: PurposeExec, TTL: ttl, Caller: caller})
			if err != nil {
				t.Fatal(err)
			}
			return g.Lease.ID
		}
		first, second := lease(time.Hour), lease(time.Minute)
		if exits.adds != 1 || watchCount(b) != 1 {
			t.Fatalf("two leases of one process: %d watches opened, %d held; want 1, 1", exits.adds, watchCount(b))
		}
		if err := b.Revoke(first, caller); err != nil {
			t.Fatal(err)
		}
		if !exits.Watching(100) {
			t.Fatal("the watch went with the first lease; the second still needs it")
		}
		time.Sleep(2 * time.Minute) // the second ends at its TTL
		synctest.Wait()
		if _, live := b.LeaseValid(second); live {
			t.Fatal("the second lease outlived its TTL")
		}
		if exits.Watching(100) || watchCount(b) != 0 {
			t.Fatal("the process holds no lease and is still watched")
		}
		third := lease(time.Hour)
		if exits.adds != 2 || !exits.Watching(100) {
			t.Fatalf("a lease after the watch was removed: %d watches opened in all, watching %v", exits.adds, exits.Watching(100))
		}
		// The process exits: every lease it holds ends at once, and its
		// watch is gone.
		fourth := lease(time.Hour)
		exits.exited <- []int{100}
		synctest.Wait()
		for _, id := range []string{third, fourth} {
			if cause, _ := b.EndedCause(id); cause != "exit" {
				t.Errorf("lease %s: cause %q, want exit", id, cause)
			}
		}
		if watchCount(b) != 0 {
			t.Error("an exited process is still in the broker's watches")
		}
	})
}

// A lease that follows a tree lives on with the processes that carry its
// id once its first process exits: they are watched for it, and released
// when it ends.
func TestTheHeirsOfALeaseAreNoLongerWatchedOnceItEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		procs := &fakeProcs{start: map[int]uint64{}, ppid: map[int]int{}}
		exits := &countingExits{fakeExits: newFakeExits()}
		b := newLaptopBroker(t, Options{Procs: procs, Exits: exits, Audit: &audit.Memory{}})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go b.Run(ctx)
		procs.set(100, 1)
		g, err := b.Lease(ctx, LeaseRequest{Purpose: PurposeExec, TTL: time.Hour, Caller: Caller{UID: 1000, PID: 100}})
		if err != nil {
			t.Fatal(err)
		}
		procs.spawn(101, 2, 1, g.Lease.ID)
		procs.spawn(102, 3, 1, g.Lease.ID)
		procs.exit(100)
		exits.exited <- []int{100}
		synctest.Wait()
		if _, live := b.LeaseValid(g.Lease.ID); !live {
			t.Fatal("the lease ended although processes carry its id")
		}
		if !exits.Watching(101) || !exits.Watching(102) || watchCount(b) != 2 {
			t.Fatalf("the heirs are not watched: %d watches", watchCount(b))
		}
		if err := b.Revoke(g.Lease.ID, Caller{UID: 1000}); err != nil {
			t.Fatal(err)
		}
		if exits.Watching(101) || exits.Watching(102) || watchCount(b) != 0 {
			t.Error("the heirs of a revoked lease are still watched")
		}
	})
}

// failingExits refuses the first fails watches (no descriptor left, say).
type failingExits struct {
	*fakeExits
	fails int
}

func (f *failingExits) Add(pid int) bool {
	f.mu.Lock()
	if f.fails > 0 {
		f.fails--
		f.mu.Unlock()
		return false
	}
	f.mu.Unlock()
	return f.fakeExits.Add(pid)
}

// A lease whose watch could not be opened (it is polled instead) holds no
// share of the watch a later lease of the same process opened: its end
// must not take that lease's watch away.
func TestALeaseWithoutAWatchDoesNotEndAnothersWatch(t *testing.T) {
	procs := &fakeProcs{start: map[int]uint64{}, ppid: map[int]int{}}
	procs.set(100, 5)
	exits := &failingExits{fakeExits: newFakeExits(), fails: 1}
	b := newLaptopBroker(t, Options{Procs: procs, Exits: exits, Audit: &audit.Memory{}})
	for _, caller := range []Caller{{UID: 1000, PID: 100}, {UID: 1000, PID: 100, Process: &fakeCallerProcess{start: 5}}} {
		exits.fails = 1
		unwatched, err := b.Lease(t.Context(), LeaseRequest{Purpose: PurposeExec, TTL: time.Hour, Caller: caller})
		if err != nil {
			t.Fatal(err)
		}
		if exits.Watching(100) {
			t.Fatal("the watch was to fail")
		}
		watched, err := b.Lease(t.Context(), LeaseRequest{Purpose: PurposeExec, TTL: time.Hour, Caller: caller})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Revoke(unwatched.Lease.ID, caller); err != nil {
			t.Fatal(err)
		}
		if !exits.Watching(100) {
			t.Fatalf("caller %+v: the end of a lease that had no watch took the other lease's watch away", caller)
		}
		if err := b.Revoke(watched.Lease.ID, caller); err != nil {
			t.Fatal(err)
		}
		if exits.Watching(100) {
			t.Fatal("the last watched lease ended and the process is still watched")
		}
	}
}
