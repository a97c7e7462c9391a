package broker

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hfbroker/hfbroker/internal/audit"
	"github.com/hfbroker/hfbroker/internal/hub"
	"github.com/hfbroker/hfbroker/internal/keystore"
	"github.com/hfbroker/hfbroker/internal/secret"
)

// fakeProcs is a process table the test controls.
type fakeProcs struct {
	mu       sync.Mutex
	start    map[int]uint64 // pid -> start time; missing = exited
	ppid     map[int]int
	env      map[int]string // pid -> the lease id in its environment
	noFollow bool           // a system that cannot list processes
	cwds     map[int]string // pid -> working directory; missing = /work
}

func (f *fakeProcs) StartTime(pid int) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.start[pid]
	if !ok {
		return 0, errors.New("exited")
	}
	return st, nil
}
func (f *fakeProcs) Parent(pid int) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ppid[pid], nil
}
func (f *fakeProcs) Exe(int) string  { return "/usr/bin/python3" }
func (f *fakeProcs) CanFollow() bool { return !f.noFollow }
func (f *fakeProcs) Carriers(_ int, key string, values []string, _ uint64) (map[string][]int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]int{}
	for pid, id := range f.env {
		if _, live := f.start[pid]; live && key == LeaseEnv && slices.Contains(values, id) {
			out[id] = append(out[id], pid)
		}
	}
	return out, false
}

// spawn starts a process that carries lease id in its environment.
func (f *fakeProcs) spawn(pid int, start uint64, parent int, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.start[pid], f.ppid[pid] = start, parent
	if f.env == nil {
		f.env = map[int]string{}
	}
	f.env[pid] = id
}
func (f *fakeProcs) Cwd(pid int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d, ok := f.cwds[pid]; ok {
		return d
	}
	return "/work"
}
func (f *fakeProcs) set(pid int, start uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.start[pid] = start
}
func (f *fakeProcs) exit(pid int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.start, pid)
}

type leaseWorld struct {
	b     *Broker
	procs *fakeProcs
	audit *audit.Memory
	now   time.Time
	tok   secret.Token
}

func newLeaseWorld(t *testing.T) *leaseWorld {
	t.Helper()
	w := &leaseWorld{procs: &fakeProcs{start: map[int]uint64{}, ppid: map[int]int{}}, audit: &audit.Memory{},
		now: time.Now(), tok: secret.Token("hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh")}
	b, err := New(Options{
		Store:    keystore.NewMemory(),
		Profiles: &MemoryProfiles{},
		Procs:    w.procs,
		Audit:    w.audit,
		Now:      func() time.Time { return w.now },
		MaxTTL:   time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.b = b
	if _, _, err := b.AddToken(context.Background(), AddRequest{Name: "laptop", Token: w.tok, Endpoint: "https://huggingface.co", NoVerify: true}); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *leaseWorld) lease(t *testing.T, pid int, ttl time.Duration) Lease {
	t.Helper()
	g, err := w.b.Lease(context.Background(), LeaseRequest{Purpose: PurposeExec, TTL: ttl, Caller: Caller{UID: 1000, PID: pid}})
	if err != nil {
		t.Fatal(err)
	}
	if g.Token != w.tok {
		t.Fatal("lease carries the wrong token")
	}
	return g.Lease
}

func (w *leaseWorld) endedCause(id string) string {
	for _, ev := range w.audit.Events() {
		if ev.Event == "lease.ended" && ev.LeaseID == id {
			return ev.Cause
		}
	}
	return ""
}

func TestLeaseEnds(t *testing.T) {
	tests := []struct {
		name  string
		act   func(w *leaseWorld, l Lease)
		cause string
	}{
		{"at its TTL by the monotonic clock", func(w *leaseWorld, l Lease) { w.now = w.now.Add(11 * time.Minute) }, "ttl"},
		{"at its TTL by the wall clock, after a suspend the monotonic clock missed", func(w *leaseWorld, l Lease) {
			// A time.Time without a monotonic reading compares by wall clock.
			w.now = w.now.Round(0).Add(11 * time.Minute)
		}, "ttl"},
		{"when its process exits", func(w *leaseWorld, l Lease) { w.procs.exit(l.PID) }, "exit"},
		{"when its pid is reused by another process", func(w *leaseWorld, l Lease) { w.procs.set(l.PID, 999) }, "exit"},
		{"when it is revoked", func(w *leaseWorld, l Lease) {
			if err := w.b.Revoke(l.ID, Caller{}); err != nil {
				panic(err)
			}
		}, "revoked"},
		{"when its profile is removed", func(w *leaseWorld, l Lease) {
			if _, err := w.b.RemoveToken(context.Background(), "laptop", Caller{}); err != nil {
				panic(err)
			}
		}, "profile-removed"},
		{"when the broker is locked", func(w *leaseWorld, l Lease) { w.b.Lock(Caller{}) }, "lock"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newLeaseWorld(t)
			w.procs.set(4242, 7)
			l := w.lease(t, 4242, 10*time.Minute)
			w.b.Reap()
			if _, ok := w.b.LeaseValid(l.ID); !ok {
				t.Fatal("a fresh lease is not live")
			}
			tc.act(w, l)
			w.b.Reap()
			if _, ok := w.b.LeaseValid(l.ID); ok {
				t.Fatal("lease still live")
			}
			if got := w.endedCause(l.ID); got != tc.cause {
				t.Fatalf("lease.ended cause = %q, want %q", got, tc.cause)
			}
			if n := w.b.LeaseCount(); n != 0 {
				t.Fatalf("%d leases left", n)
			}
		})
	}
}

func TestLeaseStaysWhileItsProcessRunsWithinTTL(t *testing.T) {
	w := newLeaseWorld(t)
	w.procs.set(4242, 7)
	l := w.lease(t, 4242, 10*time.Minute)
	w.now = w.now.Add(9 * time.Minute)
	w.b.Reap()
	if _, ok := w.b.LeaseValid(l.ID); !ok {
		t.Fatal("lease ended early")
	}
}

func TestLeaseRefusesATTLOverTheMaximum(t *testing.T) {
	w := newLeaseWorld(t)
	_, err := w.b.Lease(context.Background(), LeaseRequest{Purpose: PurposeToken, TTL: 2 * time.Hour})
	if KindOf(err) != KindInvalid {
		t.Fatalf("err = %v, want an invalid-request error", err)
	}
}

func TestLeaseForAnotherProcessMustBeTheCallersParentOrChild(t *testing.T) {
	w := newLeaseWorld(t)
	w.procs.set(100, 1)
	w.procs.set(200, 1)
	w.procs.set(300, 1)
	w.procs.ppid[200] = 100 // 200 is 100's child
	if _, err := w.b.Lease(context.Background(), LeaseRequest{Purpose: PurposeExec, PID: 200, Caller: Caller{PID: 100}}); err != nil {
		t.Fatalf("lease for the caller's child: %v", err)
	}
	if _, err := w.b.Lease(context.Background(), LeaseRequest{Purpose: PurposeExec, PID: 300, Caller: Caller{PID: 100}}); KindOf(err) != KindInvalid {
		t.Fatalf("lease for an unrelated process: err = %v, want refused", err)
	}
}

func TestLockForgetsCachedTokens(t *testing.T) {
	w := newLeaseWorld(t)
	// Read once so the token is cached, then take it out of the store
	// behind the broker's back: only the cache can still answer.
	w.lease(t, 0, time.Minute)
	if err := w.b.currentStore().Delete(context.Background(), "laptop"); err != nil {
		t.Fatal(err)
	}
	w.lease(t, 0, time.Minute)
	w.b.Lock(Caller{})
	if _, err := w.b.Lease(context.Background(), LeaseRequest{Purpose: PurposeToken}); err == nil {
		t.Fatal("a lease after lock was served from the forgotten cache")
	}
}

// A config route picks the profile, never the Hub: a token bound to one
// endpoint is not handed out for another, even when a route names it.
func TestRouteNeverSendsATokenToAnotherEndpoint(t *testing.T) {
	w := newLeaseWorld(t)
	w.b.Configure(Settings{MaxTTL: time.Hour, Routes: []Route{{Match: "acme/*", Profile: "laptop"}}})
	repo, err := hub.ParseRepo("acme/llm", hub.RepoModel)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := w.b.Lease(ctx, LeaseRequest{Repo: &repo, Purpose: PurposeToken, Endpoint: "https://huggingface.co"}); err != nil {
		t.Fatalf("routed lease on the profile's own endpoint: %v", err)
	}
	_, err = w.b.Lease(ctx, LeaseRequest{Repo: &repo, Purpose: PurposeToken, Endpoint: "https://evil.example"})
	if KindOf(err) != KindAccessDenied {
		t.Fatalf("routed lease for another endpoint: err = %v, want access denied", err)
	}
}

// When the metadata cannot be saved, AddToken changes nothing a lease can
// see: the old token is still the one handed out, under its own fingerprint.
func TestAFailedSaveLeavesTheOldTokenInPlace(t *testing.T) {
	w := newLeaseWorld(t)
	ctx := context.Background()
	w.lease(t, 0, time.Minute) // cache the old token
	w.b.opts.Profiles = failingProfiles{w.b.opts.Profiles}
	newTok := secret.Token("hf_" + "ZyXwVuTsRqPoNmLkJiHgFeDcBaZyXwVuTs")
	if _, _, err := w.b.AddToken(ctx, AddRequest{Name: "laptop", Token: newTok, Endpoint: "https://huggingface.co", NoVerify: true}); err == nil {
		t.Fatal("AddToken succeeded although the metadata could not be saved")
	}
	g, err := w.b.Lease(ctx, LeaseRequest{Purpose: PurposeToken})
	if err != nil {
		t.Fatal(err)
	}
	if g.Token != w.tok || g.Lease.Fingerprint != w.tok.Fingerprint() {
		t.Fatal("after a failed AddToken the lease carries the new token or the wrong fingerprint")
	}
	w.b.ForgetTokens()
	if g, err := w.b.Lease(ctx, LeaseRequest{Purpose: PurposeToken}); err != nil || g.Token != w.tok {
		t.Fatalf("the store does not hold the old token again: %v", err)
	}
}

// Issue 20: the proxy asks why a lease token's lease ended the moment the
// token fails, which for a TTL can be before the reaper has run: the answer
// is already "ttl", not unknown.
func TestEndedCauseKnowsATTLBeforeTheReaper(t *testing.T) {
	w := newLeaseWorld(t)
	w.procs.set(4242, 7)
	l := w.lease(t, 4242, 10*time.Minute)
	if c, ok := w.b.EndedCause(l.ID); ok {
		t.Fatalf("a live lease has an ended cause %q", c)
	}
	w.now = w.now.Add(11 * time.Minute)
	if c, ok := w.b.EndedCause(l.ID); !ok || c != "ttl" {
		t.Fatalf("EndedCause before the reaper = %q, %v; want ttl", c, ok)
	}
	w.b.Reap()
	if c, ok := w.b.EndedCause(l.ID); !ok || c != "ttl" {
		t.Fatalf("EndedCause after the reaper = %q, %v; want ttl", c, ok)
	}
}

// failingProfiles is a profile store that cannot save (a full disk).
type failingProfiles struct{ ProfileStore }

func (failingProfiles) Save(map[string]*Profile, string) error { return errors.New("disk full") }

// What a profile store hands back is checked by the broker, not by each
// store: a profile whose name is not one the broker accepts is passed
// over, and a default that names no kept profile is no default.
func TestNewPassesOverProfilesWithBadNamesAndADefaultThatIsGone(t *testing.T) {
	ps := &MemoryProfiles{}
	at := time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)
	if err := ps.Save(map[string]*Profile{
		"laptop":  {Name: "laptop", AddedAt: at},
		"../evil": {Name: "../evil", AddedAt: at},
	}, "gone"); err != nil {
		t.Fatal(err)
	}
	b, err := New(Options{Store: keystore.NewMemory(), Profiles: ps, Procs: &fakeProcs{start: map[int]uint64{}, ppid: map[int]int{}}})
	if err != nil {
		t.Fatal(err)
	}
	got, def := b.Profiles()
	if len(got) != 1 || got[0].Name != "laptop" || def != "" {
		t.Fatalf("Profiles = %+v, default %q; want laptop alone and no default", got, def)
	}
}
