package broker

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hfbroker/hfbroker/internal/runenv"
)

func TestLeaseEnvIsTheVariableExecSets(t *testing.T) {
	if LeaseEnv != runenv.EnvLease {
		t.Fatalf("broker follows %s, exec sets %s", LeaseEnv, runenv.EnvLease)
	}
}

// Issue 20: `exec -- sh -c 'sleep 3 & exit 0'`. The lease ends when the
// last process of the job exits, not the first: a background child, a
// double fork or setsid all keep the lease id in their environment.
func TestLeaseFollowsTheProcessTree(t *testing.T) {
	for _, purpose := range []Purpose{PurposeExec, PurposeProxy} {
		t.Run(string(purpose), func(t *testing.T) {
			w := newLeaseWorld(t)
			w.procs.set(100, 1)
			g, err := w.b.Lease(context.Background(), LeaseRequest{Purpose: purpose, TTL: 10 * time.Minute, Caller: Caller{UID: 1000, PID: 100}})
			if err != nil {
				t.Fatal(err)
			}
			id := g.Lease.ID
			if g.Lease.Follow != FollowTree {
				t.Fatalf("Follow = %q, want %q", g.Lease.Follow, FollowTree)
			}
			// The shell backgrounds a sleep, which double-forks a worker
			// (reparented to init: no longer anyone's child), then exits.
			w.procs.spawn(100, 1, 1, id)
			w.procs.spawn(101, 2, 100, id)
			w.procs.spawn(102, 3, 1, id)
			w.procs.spawn(900, 4, 1, "l-another")
			w.procs.exit(100)
			w.b.Reap()
			_, ok := w.b.LeaseValid(id)
			if !ok {
				t.Fatalf("the lease ended with its first process (cause %q) while two children carry it", w.endedCause(id))
			}
			if got := w.b.Leases()[0].Processes; len(got) != 2 || !slices.Contains(got, 101) || !slices.Contains(got, 102) {
				t.Errorf("Processes = %v, want 101 and 102", got)
			}
			w.procs.exit(101)
			w.b.Reap()
			if _, ok := w.b.LeaseValid(id); !ok {
				t.Fatal("the lease ended while the double-forked worker lives")
			}
			w.procs.exit(102)
			w.b.Reap()
			if _, ok := w.b.LeaseValid(id); ok {
				t.Fatal("the lease outlived its last process")
			}
			if got := w.endedCause(id); got != "exit" {
				t.Errorf("cause = %q, want exit", got)
			}
		})
	}
}

// Where processes cannot be listed, a lease lives with its first process,
// and says so.
func TestLeaseFollowsOnlyItsProcessWhereNoTreeCanBeFollowed(t *testing.T) {
	w := newLeaseWorld(t)
	w.procs.noFollow = true
	w.procs.set(100, 1)
	g, err := w.b.Lease(context.Background(), LeaseRequest{Purpose: PurposeExec, TTL: 10 * time.Minute, Caller: Caller{UID: 1000, PID: 100}})
	if err != nil {
		t.Fatal(err)
	}
	if g.Lease.Follow != FollowProcess {
		t.Fatalf("Follow = %q, want %q", g.Lease.Follow, FollowProcess)
	}
	w.procs.spawn(101, 2, 100, g.Lease.ID)
	w.procs.exit(100)
	w.b.Reap()
	if _, ok := w.b.LeaseValid(g.Lease.ID); ok {
		t.Fatal("the lease lived on although this system cannot follow a tree")
	}
}

// Git and token leases are not followed: git's helper exits as soon as it
// has answered; a token lease lives with the process that asked.
func TestOnlyJobLeasesFollowATree(t *testing.T) {
	w := newLeaseWorld(t)
	w.procs.set(100, 1)
	for purpose, want := range map[Purpose]Follow{PurposeToken: FollowProcess, PurposeGit: FollowTTL} {
		g, err := w.b.Lease(context.Background(), LeaseRequest{Purpose: purpose, TTL: 10 * time.Minute, Caller: Caller{UID: 1000, PID: 100}})
		if err != nil {
			t.Fatal(err)
		}
		if g.Lease.Follow != want {
			t.Errorf("%s lease: Follow = %q, want %q", purpose, g.Lease.Follow, want)
		}
	}
}

// Issue 20: long jobs. A lease until exit has no TTL of its own: it
// outlives the default TTL and ends with its processes.
func TestLeaseUntilExitOutlivesTheDefaultTTL(t *testing.T) {
	w := newLeaseWorld(t)
	w.b.Configure(Settings{DefaultTTL: 2 * time.Second, MaxTTL: time.Hour})
	w.procs.set(100, 1)
	g, err := w.b.Lease(context.Background(), LeaseRequest{Purpose: PurposeProxy, UntilExit: true, Caller: Caller{UID: 1000, PID: 100}})
	if err != nil {
		t.Fatal(err)
	}
	if !g.Lease.UntilExit || g.Lease.ExpiresAt.Sub(g.Lease.GrantedAt) != 30*24*time.Hour {
		t.Fatalf("lease until exit: UntilExit %v, lifetime %s; want 720h", g.Lease.UntilExit, g.Lease.ExpiresAt.Sub(g.Lease.GrantedAt))
	}
	w.now = w.now.Add(10 * 24 * time.Hour)
	w.b.Reap()
	if _, ok := w.b.LeaseValid(g.Lease.ID); !ok {
		t.Fatal("the lease until exit ended while its process runs")
	}
	w.procs.exit(100)
	w.b.Reap()
	if _, ok := w.b.LeaseValid(g.Lease.ID); ok {
		t.Fatal("the lease until exit outlived its process")
	}
}

func TestLeaseUntilExitNeedsAProcessAndNoTTL(t *testing.T) {
	w := newLeaseWorld(t)
	w.procs.set(100, 1)
	for name, req := range map[string]LeaseRequest{
		"no process": {Purpose: PurposeExec, UntilExit: true},
		"git":        {Purpose: PurposeGit, UntilExit: true, Caller: Caller{PID: 100}},
		"and a TTL":  {Purpose: PurposeExec, UntilExit: true, TTL: time.Hour, Caller: Caller{PID: 100}},
	} {
		if _, err := w.b.Lease(context.Background(), req); KindOf(err) != KindInvalid {
			t.Errorf("%s: err = %v, want an invalid-request error", name, err)
		}
	}
}

// Issue 20: `hfbroker leases renew ID [--ttl D]` extends a live lease;
// renewing an ended one is refused with the reason it ended.
func TestRenewExtendsALiveLeaseAndRefusesAnEndedOne(t *testing.T) {
	w := newLeaseWorld(t)
	w.procs.set(100, 1)
	l := w.lease(t, 100, 10*time.Minute)
	w.now = w.now.Add(9 * time.Minute)
	r, err := w.b.Renew(l.ID, 30*time.Minute, Caller{UID: 1000, PID: 7})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.ExpiresAt.Sub(w.now.UTC()); got != 30*time.Minute {
		t.Errorf("renewed lease ends in %s, want 30m", got)
	}
	w.now = w.now.Add(20 * time.Minute)
	w.b.Reap()
	if _, ok := w.b.LeaseValid(l.ID); !ok {
		t.Fatal("the renewed lease ended at its first TTL")
	}
	if got := w.audit.Events()[len(w.audit.Events())-1]; got.Event != "lease.renewed" || got.LeaseID != l.ID {
		t.Errorf("last audit event = %+v, want lease.renewed for %s", got, l.ID)
	}
	if _, err := w.b.Renew(l.ID, 13*time.Hour, Caller{}); KindOf(err) != KindInvalid {
		t.Errorf("renew past the maximum: err = %v, want invalid", err)
	}

	w.procs.exit(100)
	w.b.Reap()
	_, err = w.b.Renew(l.ID, 0, Caller{})
	if KindOf(err) != KindAccessDenied || !strings.Contains(err.Error(), "ended (its processes exited)") {
		t.Errorf("renew an ended lease: err = %v (kind %v), want access denied naming the cause", err, KindOf(err))
	}
	if _, err := w.b.Renew("l-never", 0, Caller{}); KindOf(err) != KindNotFound {
		t.Errorf("renew an unknown lease: err = %v, want not found", err)
	}
}

// Only job leases outlive a restart: a token or git lease belongs to one
// short command. Saving every lease made each 'hfbroker token' a state
// write and, under load, copied tens of thousands of leases under the
// broker's mutex every 100 ms (lease p99 at 16 clients went from 1.6x to
// 7.4x the raw echo's).
func TestOnlyJobLeasesAreSavedForARestart(t *testing.T) {
	w := newLeaseWorld(t)
	changed := 0
	w.b.opts.OnLeasesChanged = func() { changed++ }
	w.procs.set(100, 1)
	for _, p := range []Purpose{PurposeToken, PurposeGit} {
		if _, err := w.b.Lease(context.Background(), LeaseRequest{Purpose: p, TTL: time.Minute, Caller: Caller{UID: 1000, PID: 100}}); err != nil {
			t.Fatal(err)
		}
	}
	if changed != 0 || len(w.b.SavedLeases()) != 0 {
		t.Fatalf("token and git leases: %d state writes asked, %d saved; want none", changed, len(w.b.SavedLeases()))
	}
	for _, p := range []Purpose{PurposeExec, PurposeProxy} {
		if _, err := w.b.Lease(context.Background(), LeaseRequest{Purpose: p, TTL: time.Minute, Caller: Caller{UID: 1000, PID: 100}}); err != nil {
			t.Fatal(err)
		}
	}
	if changed != 2 || len(w.b.SavedLeases()) != 2 {
		t.Fatalf("exec and proxy leases: %d state writes asked, %d saved; want 2 and 2", changed, len(w.b.SavedLeases()))
	}
}
