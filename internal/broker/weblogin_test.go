package broker_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hfbroker/hfbroker/internal/broker"
)

// Issue 14: the daemon runs the device flow for `login --web`: pending until
// the person approves, then the profile oauth-USER holds both tokens; a
// denied login is access denied and stores nothing.
func TestABrowserLoginIsStoredOnceApprovedAndNotWhenDenied(t *testing.T) {
	ctx := context.Background()
	w := newOAuthWorld(t, 0)
	if _, err := w.b.RemoveToken(ctx, "oauth-alice", broker.Caller{}); err != nil {
		t.Fatal(err)
	}
	wl, err := w.b.StartWebLogin(ctx, w.h.URL(), "")
	if err != nil {
		t.Fatal(err)
	}
	if wl.UserCode == "" || !strings.HasPrefix(wl.VerificationURIComplete, w.h.URL()) || wl.Interval <= 0 {
		t.Fatalf("web login = %+v", wl)
	}
	st, _, _, err := w.b.PollWebLogin(ctx, wl.ID, "", false, broker.Caller{})
	if err != nil || st != broker.WebLoginPending {
		t.Fatalf("before approval: %v, %v; want pending", st, err)
	}
	w.h.Approve("alice")
	st, p, _, err := w.b.PollWebLogin(ctx, wl.ID, "", false, broker.Caller{})
	if err != nil || st != broker.WebLoginDone {
		t.Fatalf("after approval: %v, %v; want done", st, err)
	}
	if p.Name != "oauth-alice" || !p.OAuth || p.ExpiresAt.IsZero() {
		t.Fatalf("profile = %+v", p)
	}
	if _, _, _, err := w.b.PollWebLogin(ctx, wl.ID, "", false, broker.Caller{}); broker.KindOf(err) != broker.KindNotFound {
		t.Fatalf("a finished login polled again: %v", err)
	}
	g, err := w.lease(t, broker.PurposeToken, 0)
	if err != nil || !w.works(t, g.Token) {
		t.Fatalf("lease after login: %v", err)
	}

	wl, err = w.b.StartWebLogin(ctx, w.h.URL(), "")
	if err != nil {
		t.Fatal(err)
	}
	w.h.Deny()
	if _, _, _, err := w.b.PollWebLogin(ctx, wl.ID, "denied", false, broker.Caller{}); broker.KindOf(err) != broker.KindAccessDenied {
		t.Fatalf("denied: %v, want access denied", err)
	}
	if ps, _ := w.b.Profiles(); len(ps) != 1 {
		t.Fatalf("%d profiles after a denied login, want 1", len(ps))
	}
}
