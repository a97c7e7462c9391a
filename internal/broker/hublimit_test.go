package broker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hfbroker/hfbroker/internal/hubapi"
	"github.com/hfbroker/hfbroker/internal/keystore"
)

// The Hub's 429 windows: one per endpoint, as long as the Hub's RateLimit
// header says (5 minutes, the Hub's window, when it does not say), and only
// a 429 opens one.
func TestHubLimitsKeepOneWindowPerEndpoint(t *testing.T) {
	var h hubLimits
	now := time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)
	const a, b = "https://huggingface.co", "https://hub.example"
	h.note(a, now, errors.New("connection refused"))
	if w := h.wait(a, now); w != 0 {
		t.Fatalf("an error that is not a 429 opened a window of %s", w)
	}
	h.note(a, now, &hubapi.RateLimitError{HTTPError: &hubapi.HTTPError{Status: 429, Kind: hubapi.ErrRateLimited}, Reset: 90 * time.Second})
	if w := h.wait(a, now.Add(30*time.Second)); w != time.Minute {
		t.Fatalf("30 s into a 90 s window: %s left, want 1m", w)
	}
	if w := h.wait(b, now); w != 0 {
		t.Fatalf("a 429 from %s closed %s for %s", a, b, w)
	}
	if w := h.wait(a, now.Add(90*time.Second)); w != 0 {
		t.Fatalf("the window outlived its reset: %s left", w)
	}
	h.note(b, now, &hubapi.RateLimitError{HTTPError: &hubapi.HTTPError{Status: 429, Kind: hubapi.ErrRateLimited}})
	if w := h.wait(b, now); w != 5*time.Minute {
		t.Fatalf("a 429 without a reset: %s window, want 5m", w)
	}
}

// A broker given no process table knows no process: a lease for one is
// refused, a lease for no process is granted and lives out its TTL.
func TestABrokerWithNoProcessTableRefusesALeaseForAProcess(t *testing.T) {
	b, err := New(Options{Store: keystore.NewMemory(), Profiles: &MemoryProfiles{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := b.AddToken(ctx, AddRequest{Name: "laptop", Token: "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh", Endpoint: "https://huggingface.co", NoVerify: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lease(ctx, LeaseRequest{Purpose: PurposeExec, TTL: time.Minute, Caller: Caller{UID: 1000, PID: 4242}}); KindOf(err) != KindInvalid {
		t.Fatalf("a lease for a process no table knows: %v, want invalid", err)
	}
	g, err := b.Lease(ctx, LeaseRequest{Purpose: PurposeToken, TTL: time.Minute})
	if err != nil || g.Lease.Follow != FollowTTL {
		t.Fatalf("a lease for no process: %+v, %v; want one that follows its TTL", g.Lease, err)
	}
}
