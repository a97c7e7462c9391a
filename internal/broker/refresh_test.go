package broker_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hfbroker/hfbroker/internal/broker"
	"github.com/hfbroker/hfbroker/internal/hub"
	"github.com/hfbroker/hfbroker/internal/hubtest"
	"github.com/hfbroker/hfbroker/internal/keystore"
	"github.com/hfbroker/hfbroker/internal/secret"
)

// clock is a settable clock shared by the fake Hub and the broker, so a
// rate-limit window passes without the test sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newRefreshWorld is a broker with one verified profile, "laptop", against a
// fake Hub whose clock the test moves.
func newRefreshWorld(t *testing.T) (*broker.Broker, *hubtest.Hub, *clock, string) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)}
	h := hubtest.New(t)
	h.SetClock(clk.Now)
	h.AddUser("alice", "Alice")
	tok := h.AddToken("alice", hubtest.TokenSpec{Role: "write", DisplayName: "laptop"})
	b, err := broker.New(broker.Options{
		Store:    keystore.NewMemory(),
		Hub:      &hub.Client{HTTP: h.Client()},
		Profiles: &broker.MemoryProfiles{},
		Now:      clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.AddToken(context.Background(), broker.AddRequest{Name: "laptop", Token: secret.Token(tok), Endpoint: h.URL()}); err != nil {
		t.Fatal(err)
	}
	return b, h, clk, tok
}

func TestAWhoamiRateLimitIsHonouredForTheWholeWindow(t *testing.T) {
	ctx := context.Background()
	b, h, clk, tok := newRefreshWorld(t)
	if n := h.Calls(hubtest.WhoamiPath); n != 1 {
		t.Fatalf("login made %d whoami calls, want 1", n)
	}
	h.RateLimit(hubtest.WhoamiPath, 90*time.Second)

	_, err := b.Whoami(ctx, "laptop", true)
	if !errors.Is(err, hub.ErrRateLimited) || broker.KindOf(err) != broker.KindHub {
		t.Fatalf("first refresh under 429: %v, want a KindHub rate-limit error", err)
	}
	if strings.Contains(err.Error(), tok) || strings.ContainsAny(err.Error(), "\n\r") {
		t.Fatalf("error is not one clean line: %q", err)
	}
	start := clk.Now()
	for _, after := range []time.Duration{0, 30 * time.Second, 89 * time.Second} {
		clk.Add(start.Add(after).Sub(clk.Now()))
		if _, err := b.Whoami(ctx, "laptop", true); err == nil {
			t.Fatalf("refresh %s into the window succeeded", after)
		}
		if n := h.Calls(hubtest.WhoamiPath); n != 2 {
			t.Fatalf("%s into the window the Hub saw %d whoami calls, want 2", after, n)
		}
	}
	// The cached answer keeps serving meanwhile.
	if p, err := b.Whoami(ctx, "laptop", false); err != nil || p.User() != "alice" {
		t.Fatalf("cached whoami = %v, %v", p.User(), err)
	}

	clk.Add(time.Second) // 90 s: the window is over, on both sides
	if p, err := b.Whoami(ctx, "laptop", true); err != nil || p.User() != "alice" {
		t.Fatalf("refresh after the window = %v, %v", p.User(), err)
	}
	if n := h.Calls(hubtest.WhoamiPath); n != 3 {
		t.Fatalf("after the window the Hub saw %d whoami calls, want 3", n)
	}
}

// A window longer than the Hub's usual five minutes is honoured to its end:
// the broker trusts the header rather than a fixed back-off.
func TestALongRateLimitWindowIsHonouredToItsEnd(t *testing.T) {
	ctx := context.Background()
	b, h, clk, _ := newRefreshWorld(t)
	h.RateLimit(hubtest.WhoamiPath, time.Hour)
	if _, err := b.Whoami(ctx, "laptop", true); !errors.Is(err, hub.ErrRateLimited) {
		t.Fatalf("first refresh: %v", err)
	}
	calls := h.Calls(hubtest.WhoamiPath)
	clk.Add(59 * time.Minute)
	if _, err := b.Whoami(ctx, "laptop", true); err == nil || !strings.Contains(err.Error(), "not asking again for 1m0s") {
		t.Fatalf("refresh after 59 min: %v, want the broker to refuse for 1m0s more", err)
	}
	if n := h.Calls(hubtest.WhoamiPath); n != calls {
		t.Fatalf("the broker called whoami-v2 %d time(s) inside the window", n-calls)
	}
	clk.Add(time.Minute)
	if _, err := b.Whoami(ctx, "laptop", true); err != nil {
		t.Fatalf("refresh after the window: %v", err)
	}
}

// Another login during the window must not call whoami-v2 either: the
// window is the endpoint's, not the profile's.
func TestALoginDuringA429WindowDoesNotCallTheHub(t *testing.T) {
	ctx := context.Background()
	b, h, _, _ := newRefreshWorld(t)
	h.RateLimit(hubtest.WhoamiPath, 10*time.Minute)
	if _, err := b.Whoami(ctx, "laptop", true); !errors.Is(err, hub.ErrRateLimited) {
		t.Fatalf("first refresh: %v", err)
	}
	calls := h.Calls(hubtest.WhoamiPath)
	other := h.AddToken("alice", hubtest.TokenSpec{Role: "read", DisplayName: "reader"})
	_, _, err := b.AddToken(ctx, broker.AddRequest{Name: "reader", Token: secret.Token(other), Endpoint: h.URL()})
	if err == nil {
		t.Fatal("a verified login succeeded while whoami-v2 is rate-limited")
	}
	if n := h.Calls(hubtest.WhoamiPath); n != calls {
		t.Fatalf("the login called whoami-v2 %d time(s) inside the window, want 0", n-calls)
	}
}
