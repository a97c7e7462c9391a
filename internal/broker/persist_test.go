package broker

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hfbroker/hfbroker/internal/audit"
	"github.com/hfbroker/hfbroker/internal/keystore"
)

// Issue 20 item 7: a restarted daemon takes back the leases of jobs that
// still run, and only those: a saved process counts only with its saved
// start time (a reused pid is another process), a tree is searched again for
// processes that carry the lease's id, and a TTL that passed while no daemon
// ran still ends the lease.
func TestRestoredLeasesAreCheckedAgainstPidReuseAndTheirTTL(t *testing.T) {
	tests := []struct {
		name  string
		down  func(w *leaseWorld, id string) // what happens while no daemon runs
		cause string                         // "" restored
		procs []int
	}{
		{"its process still runs", func(w *leaseWorld, id string) {}, "", []int{100}},
		{"its pid was reused by another process", func(w *leaseWorld, id string) {
			w.procs.exit(100)
			w.procs.set(100, 99) // same pid, later start: not the job
		}, "exit", nil},
		{"its process exited but a background child carries the lease", func(w *leaseWorld, id string) {
			w.procs.spawn(101, 2, 100, id)
			w.procs.exit(100)
		}, "", []int{101}},
		{"its TTL passed while the daemon was down", func(w *leaseWorld, id string) {
			w.now = w.now.Add(11 * time.Minute)
		}, "ttl", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newLeaseWorld(t)
			w.procs.set(100, 1)
			l := w.lease(t, 100, 10*time.Minute)
			saved := w.b.SavedLeases()
			data, _ := json.Marshal(saved)
			if strings.Contains(string(data), w.tok.Reveal()) || strings.Contains(string(data), w.tok.Reveal()[3:]) {
				t.Fatalf("saved leases hold the token: %s", data)
			}
			// The daemon stops; another starts on the same store and profiles.
			tc.down(w, l.ID)
			rec := &audit.Memory{}
			b2, err := New(Options{Store: w.b.opts.Store, Profiles: w.b.opts.Profiles, Procs: w.procs, Audit: rec,
				Now: func() time.Time { return w.now }, MaxTTL: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			back := b2.RestoreLeases(saved)
			got, live := b2.LeaseValid(l.ID)
			if tc.cause != "" {
				if live || len(back) != 0 {
					t.Fatalf("lease restored; want it ended (%s)", tc.cause)
				}
				if c, _ := b2.EndedCause(l.ID); c != tc.cause {
					t.Fatalf("ended cause %q, want %q", c, tc.cause)
				}
				return
			}
			if !live || len(back) != 1 {
				t.Fatal("lease not restored")
			}
			if !got.ExpiresAt.Equal(l.ExpiresAt) || got.Profile != l.Profile || got.Follow != FollowTree {
				t.Fatalf("restored lease %+v differs from %+v", got, l)
			}
			if ps := b2.Leases()[0].Processes; !slices.Equal(ps, tc.procs) {
				t.Fatalf("Processes = %v, want %v", ps, tc.procs)
			}
			if !slices.ContainsFunc(rec.Events(), func(e audit.Event) bool { return e.Event == "lease.restored" && e.LeaseID == l.ID }) {
				t.Fatal("no lease.restored audit event")
			}
			// It still ends with its processes.
			for _, p := range tc.procs {
				w.procs.exit(p)
			}
			b2.Reap()
			if _, live := b2.LeaseValid(l.ID); live {
				t.Fatal("the restored lease outlived its processes")
			}
			// Its real token comes back from the store, not from the state.
			if _, _, err := b2.LeaseToken(context.Background(), l.ID); err == nil {
				t.Fatal("LeaseToken of an ended lease succeeded")
			}
		})
	}
}

// The lease key lives in the store, is made once, is kept across brokers,
// and is no profile.
func TestTheLeaseKeyLivesInTheStore(t *testing.T) {
	w := newLeaseWorld(t)
	ctx := context.Background()
	if _, err := w.b.LeaseKey(ctx, false); err == nil {
		t.Fatal("LeaseKey without create made a key")
	}
	k1, err := w.b.LeaseKey(ctx, true)
	if err != nil || len(k1) != LeaseKeySize {
		t.Fatalf("LeaseKey: %v (%d bytes)", err, len(k1))
	}
	b2, err := New(Options{Store: w.b.opts.Store, Profiles: w.b.opts.Profiles, Procs: w.procs})
	if err != nil {
		t.Fatal(err)
	}
	k2, err := b2.LeaseKey(ctx, false)
	if err != nil || string(k1) != string(k2) {
		t.Fatalf("a second broker reads another key: %v", err)
	}
	if ps, _ := b2.Profiles(); len(ps) != 1 {
		t.Fatalf("the key shows as a profile: %v", ps)
	}
}

// otherKind is a memory store that calls itself another backend, so that
// Migrate moves tokens into it.
type otherKind struct{ *keystore.Memory }

func (otherKind) Kind() string { return keystore.KindFile }

// After 'hfbroker migrate', the lease key moves into the new store with the
// next use, so that proxy leases saved after the migration are recognised
// by the next daemon.
func TestTheLeaseKeyFollowsAMigration(t *testing.T) {
	w := newLeaseWorld(t)
	ctx := context.Background()
	k1, err := w.b.LeaseKey(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	dst := otherKind{keystore.NewMemory()}
	if _, err := w.b.Migrate(ctx, dst, Caller{}, nil); err != nil {
		t.Fatal(err)
	}
	k2, err := w.b.LeaseKey(ctx, true)
	if err != nil || string(k1) != string(k2) {
		t.Fatalf("the key changed with the migration: %v", err)
	}
	b2, err := New(Options{Store: dst, Profiles: w.b.opts.Profiles, Procs: w.procs})
	if err != nil {
		t.Fatal(err)
	}
	if k3, err := b2.LeaseKey(ctx, false); err != nil || string(k3) != string(k1) {
		t.Fatalf("the new store does not hold the key: %v", err)
	}
}

// A live lease keeps its ExpiresAt as its deadline (issue 16: the record is
// smaller), except when a saved end is further than a time.Duration reaches
// from now: the lease then still lists the saved end, and is renewable.
func TestARestoredLeaseListsItsSavedEndEvenBeyondADuration(t *testing.T) {
	w := newLeaseWorld(t)
	w.procs.set(100, 1)
	l := w.lease(t, 100, 10*time.Minute)
	saved := w.b.SavedLeases()
	far := time.Date(2900, 1, 2, 3, 4, 5, 6, time.UTC)
	saved[0].ExpiresAt = far
	b2, err := New(Options{Store: w.b.opts.Store, Profiles: w.b.opts.Profiles, Procs: w.procs,
		Now: func() time.Time { return w.now }, MaxTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if back := b2.RestoreLeases(saved); len(back) != 1 || !back[0].ExpiresAt.Equal(far) {
		t.Fatalf("restored %+v; want the lease, ending at %s", back, far)
	}
	if got, ok := b2.LeaseValid(l.ID); !ok || !got.ExpiresAt.Equal(far) || got.ExpiresAt != far {
		t.Fatalf("LeaseValid = %v, %v; want the lease ending at %s", got.ExpiresAt, ok, far)
	}
	if got := b2.Leases(); len(got) != 1 || got[0].ExpiresAt != far || !got[0].GrantedAt.Equal(l.GrantedAt) {
		t.Fatalf("Leases = %+v; want one, granted at %s, ending at %s", got, l.GrantedAt, far)
	}
	r, err := b2.Renew(l.ID, 5*time.Minute, Caller{})
	if err != nil {
		t.Fatal(err)
	}
	if want := w.now.Add(5 * time.Minute).UTC().Round(0); r.ExpiresAt != want {
		t.Fatalf("renewed to %s; want %s", r.ExpiresAt, want)
	}
	if got := b2.Leases(); got[0].ExpiresAt != r.ExpiresAt {
		t.Fatalf("listed as ending at %s after the renewal; want %s", got[0].ExpiresAt, r.ExpiresAt)
	}
}
