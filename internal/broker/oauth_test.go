package broker_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
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

// oauthWorld is a broker with one OAuth profile, "oauth-alice", whose access
// token lives lifetime, against a fake Hub sharing the test's clock.
type oauthWorld struct {
	b        *broker.Broker
	h        *hubtest.Hub
	clk      *clock
	store    *recordingStore
	profiles *broker.MemoryProfiles
}

// recordingStore is a memory store that can fail its writes and remembers
// every value written.
type recordingStore struct {
	*keystore.Memory
	mu      sync.Mutex
	failSet bool
	sets    []secret.Token
}

func (s *recordingStore) Set(ctx context.Context, name string, tok secret.Token) error {
	s.mu.Lock()
	fail := s.failSet
	if !fail {
		s.sets = append(s.sets, tok)
	}
	s.mu.Unlock()
	if fail {
		return errors.New("disk full")
	}
	return s.Memory.Set(ctx, name, tok)
}

func newOAuthWorld(t *testing.T, lifetime time.Duration) *oauthWorld {
	t.Helper()
	w := &oauthWorld{clk: &clock{t: time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)}, h: hubtest.New(t),
		store: &recordingStore{Memory: keystore.NewMemory()}, profiles: &broker.MemoryProfiles{}}
	w.h.SetClock(w.clk.Now)
	w.h.AddUser("alice", "Alice")
	w.h.SetOAuthLifetime(lifetime)
	w.b = w.open(t)
	access, refresh, exp := w.h.IssueOAuth("alice")
	p, _, err := w.b.AddToken(context.Background(), broker.AddRequest{Token: secret.Token(access), Refresh: secret.Token(refresh),
		ExpiresAt: exp, Endpoint: w.h.URL()})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "oauth-alice" || !p.OAuth || !p.ExpiresAt.Equal(exp) {
		t.Fatalf("profile = %+v, want oauth-alice, OAuth, expiring %s", p, exp)
	}
	return w
}

// open starts a broker on the world's store and profile file: a second call
// is the daemon restarted.
func (w *oauthWorld) open(t *testing.T) *broker.Broker {
	t.Helper()
	b, err := broker.New(broker.Options{Store: w.store, Hub: &hub.Client{HTTP: w.h.Client()},
		Profiles: w.profiles, Now: w.clk.Now, MaxTTL: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (w *oauthWorld) lease(t *testing.T, purpose broker.Purpose, ttl time.Duration) (broker.Grant, error) {
	t.Helper()
	return w.b.Lease(context.Background(), broker.LeaseRequest{Profile: "oauth-alice", Purpose: purpose, TTL: ttl})
}

// works asks the fake Hub whether a token is accepted now.
func (w *oauthWorld) works(t *testing.T, tok secret.Token) bool {
	t.Helper()
	_, err := (&hub.Client{HTTP: w.h.Client()}).Whoami(context.Background(), w.h.URL(), tok)
	return err == nil
}

func TestAnOAuthTokenIsRefreshedAtTheSmallerOf24hAndHalfItsLifetime(t *testing.T) {
	for _, tc := range []struct {
		name       string
		lifetime   time.Duration
		notYet, at time.Duration // time left before expiry
	}{
		{"a 30-day token at 24h left", 30 * 24 * time.Hour, 25 * time.Hour, 24 * time.Hour},
		{"a 20-second token at 10s left", 20 * time.Second, 11 * time.Second, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newOAuthWorld(t, tc.lifetime)
			w.clk.Add(tc.lifetime - tc.notYet)
			g, err := w.lease(t, broker.PurposeToken, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := w.h.Refreshes(); n != 0 {
				t.Fatalf("refreshed with %s left", tc.notYet)
			}
			first := g.Token
			w.clk.Add(tc.notYet - tc.at)
			g, err = w.lease(t, broker.PurposeToken, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := w.h.Refreshes(); n != 1 {
				t.Fatalf("%d refreshes with %s left, want 1", n, tc.at)
			}
			if g.Token == first || !strings.HasPrefix(g.Token.Reveal(), "hf_oauth_") || !w.works(t, g.Token) {
				t.Fatalf("the lease did not get a new working access token")
			}
		})
	}
}

func TestFiftyConcurrentLeasesAtExpiryMakeExactlyOneRefresh(t *testing.T) {
	w := newOAuthWorld(t, 20*time.Second)
	w.clk.Add(20 * time.Second) // expired
	stalled, release := w.h.StallRefresh()
	var wg sync.WaitGroup
	toks := make(chan secret.Token, 50)
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			g, err := w.lease(t, broker.PurposeExec, time.Second)
			if err != nil {
				errs <- err
				return
			}
			toks <- g.Token
		})
	}
	<-stalled // the one refresh is at the Hub; everyone else waits on it
	release()
	wg.Wait()
	close(errs)
	close(toks)
	for err := range errs {
		t.Fatal(err)
	}
	var first secret.Token
	for tok := range toks {
		if first == "" {
			first = tok
		}
		if tok != first {
			t.Fatal("the leases got different access tokens")
		}
	}
	if n, refused := w.h.Refreshes(); n != 1 || refused != 0 {
		t.Fatalf("%d refreshes (%d refused), want exactly 1", n, refused)
	}
	if !w.works(t, first) {
		t.Fatal("the refreshed token does not work")
	}
}

func TestARotatedRefreshTokenIsStoredBeforeTheNewAccessTokenIsHandedOut(t *testing.T) {
	w := newOAuthWorld(t, 20*time.Second)
	g0, err := w.lease(t, broker.PurposeToken, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	w.clk.Add(15 * time.Second)

	// The store refuses the write: the Hub has rotated, but the new access
	// token must not leave the daemon before the pair is stored (the old
	// one, still valid for 5 s, may).
	w.store.mu.Lock()
	w.store.failSet = true
	w.store.mu.Unlock()
	if g, err := w.lease(t, broker.PurposeToken, time.Second); err == nil && g.Token != g0.Token {
		t.Fatal("a lease got a token whose refresh token was never stored")
	}
	if n, _ := w.h.Refreshes(); n != 1 {
		t.Fatalf("%d refreshes, want 1", n)
	}
	w.store.mu.Lock()
	w.store.failSet = false
	w.store.mu.Unlock()
	g, err := w.lease(t, broker.PurposeToken, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	issued := w.h.RefreshTokens()
	last := issued[len(issued)-1]
	w.store.mu.Lock()
	sets := append([]secret.Token(nil), w.store.sets...)
	w.store.mu.Unlock()
	stored := sets[len(sets)-1].Reveal()
	if !strings.Contains(stored, last) || !strings.Contains(stored, g.Token.Reveal()) {
		t.Fatal("the store does not hold the rotated refresh token beside the access token handed out")
	}
	if n, _ := w.h.Refreshes(); n != 1 {
		t.Fatalf("%d refreshes, want 1 (the pending pair is written, not refreshed again)", n)
	}

	// A daemon restarted (kill -9 after that lease) refreshes with what the
	// store holds.
	w.b = w.open(t)
	w.clk.Add(20 * time.Second)
	g2, err := w.lease(t, broker.PurposeToken, time.Second)
	if err != nil {
		t.Fatalf("after a restart: %v", err)
	}
	if n, refused := w.h.Refreshes(); n != 2 || refused != 0 || !w.works(t, g2.Token) {
		t.Fatalf("after a restart: %d refreshes, %d refused, want 2 and 0", n, refused)
	}
}

func TestARefusedRefreshAsksForABrowserLoginOnEveryLease(t *testing.T) {
	w := newOAuthWorld(t, 20*time.Second)
	w.h.RevokeRefresh("alice")
	w.clk.Add(30 * time.Second)
	for i := range 2 {
		_, err := w.lease(t, broker.PurposeExec, time.Second)
		if broker.KindOf(err) != broker.KindAccessDenied || !strings.Contains(broker.HintOf(err), "hfbroker login --web --name oauth-alice") {
			t.Fatalf("lease %d: %v (hint %q), want access denied with a login --web hint", i, err, broker.HintOf(err))
		}
	}
	if _, refused := w.h.Refreshes(); refused != 1 {
		t.Fatalf("the Hub was asked %d times with a dead refresh token, want 1", refused)
	}
	ps, _ := w.b.Profiles()
	if !ps[0].NeedsLogin {
		t.Fatal("the profile is not marked as needing a login")
	}
	// And a restarted daemon remembers it.
	w.b = w.open(t)
	if _, err := w.lease(t, broker.PurposeExec, time.Second); broker.KindOf(err) != broker.KindAccessDenied {
		t.Fatalf("after a restart: %v", err)
	}
}

func TestALeaseLongerThanTheTokenEndsWithTheToken(t *testing.T) {
	w := newOAuthWorld(t, time.Hour)
	g, err := w.lease(t, broker.PurposeExec, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !g.Lease.ShortenedToToken || !g.Lease.ExpiresAt.Equal(g.Lease.TokenExpiresAt) || g.Lease.ExpiresAt.After(w.clk.Now().Add(time.Hour)) {
		t.Fatalf("lease ends %s (shortened %v), token %s", g.Lease.ExpiresAt, g.Lease.ShortenedToToken, g.Lease.TokenExpiresAt)
	}
	// A proxy lease is not cut: the proxy asks for the current token.
	p, err := w.lease(t, broker.PurposeProxy, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if p.Lease.ShortenedToToken || !p.Lease.ExpiresAt.Equal(w.clk.Now().Add(2*time.Hour)) {
		t.Fatalf("proxy lease ends %s, want in 2h", p.Lease.ExpiresAt)
	}
}

func TestAnImportedExpiredOAuthLoginIsRefreshedBeforeItIsStored(t *testing.T) {
	w := newOAuthWorld(t, 20*time.Second)
	access, refresh, exp := w.h.IssueOAuth("alice")
	w.clk.Add(time.Minute) // both access tokens are dead now
	p, _, err := w.b.AddToken(context.Background(), broker.AddRequest{Name: "imported", Token: secret.Token(access),
		Refresh: secret.Token(refresh), ExpiresAt: exp, Endpoint: w.h.URL()})
	if err != nil {
		t.Fatal(err)
	}
	if !p.ExpiresAt.After(w.clk.Now()) {
		t.Fatalf("the stored token expires %s, in the past", p.ExpiresAt)
	}
	// A section whose refresh token the Hub refuses is not stored.
	access, refresh, exp = w.h.IssueOAuth("alice")
	w.h.KillRefreshToken(refresh)
	w.clk.Add(time.Minute)
	_, _, err = w.b.AddToken(context.Background(), broker.AddRequest{Name: "dead", Token: secret.Token(access),
		Refresh: secret.Token(refresh), ExpiresAt: exp, Endpoint: w.h.URL()})
	if broker.KindOf(err) != broker.KindAccessDenied {
		t.Fatalf("a replayed refresh token: %v, want access denied", err)
	}
	if strings.Contains(err.Error(), refresh) || strings.Contains(err.Error(), access) {
		t.Fatal("the error holds a token")
	}
}

// import took a huggingface_hub section named like a browser login hfbroker
// held for that login, by its name alone, and --remove-plaintext deleted it:
// a newer login there (the user logged in again with hf) was lost. The
// broker now says which pairs it holds: its current pair, and a pair it has
// refreshed since (whose refresh token the Hub rotated away); any other
// pair is stored.
func TestAnOAuthPairIsAlreadyStoredOnlyByTheProfileThatHoldsOrRefreshedIt(t *testing.T) {
	w := newOAuthWorld(t, 20*time.Second)
	ctx := context.Background()
	access, refresh, exp := w.h.IssueOAuth("alice")
	add := func(name string) (broker.Profile, error) {
		p, _, err := w.b.AddToken(ctx, broker.AddRequest{Name: name, Token: secret.Token(access),
			Refresh: secret.Token(refresh), ExpiresAt: exp, Endpoint: w.h.URL()})
		return p, err
	}
	if _, err := add("second"); err != nil {
		t.Fatal(err)
	}
	sets := len(w.store.sets)
	if p, err := add("second-2"); !errors.Is(err, broker.ErrAlreadyStored) || p.Name != "second" {
		t.Fatalf("the same pair again: %q, %v; want already stored by second", p.Name, err)
	}
	if len(w.store.sets) != sets {
		t.Fatal("a pair already held was written to the store")
	}

	w.clk.Add(11 * time.Second) // due: the next lease refreshes
	g, err := w.b.Lease(ctx, broker.LeaseRequest{Profile: "second", Purpose: broker.PurposeToken, TTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if g.Token.Reveal() == access {
		t.Fatal("the lease was not refreshed")
	}
	sets = len(w.store.sets)
	if p, err := add("second-2"); !errors.Is(err, broker.ErrAlreadyStored) || p.Name != "second" {
		t.Fatalf("the pair refreshed since: %q, %v; want already stored by second", p.Name, err)
	}
	if len(w.store.sets) != sets {
		t.Fatal("a pair already held was written to the store")
	}

	// Another login of the same user, under the same section name: stored.
	access, refresh, exp = w.h.IssueOAuth("alice")
	if p, err := add("second-2"); err != nil || p.Name != "second-2" || !p.OAuth {
		t.Fatalf("another login: %+v, %v; want stored as second-2", p, err)
	}
}

func TestARenewedLeaseDoesNotOutliveItsAccessToken(t *testing.T) {
	w := newOAuthWorld(t, time.Hour)
	g, err := w.lease(t, broker.PurposeExec, 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	l, err := w.b.Renew(g.Lease.ID, 2*time.Hour, broker.Caller{})
	if err != nil {
		t.Fatal(err)
	}
	if l.ExpiresAt.After(g.Lease.TokenExpiresAt) || !l.ShortenedToToken {
		t.Fatalf("renewed to %s, past the token's expiry %s", l.ExpiresAt, g.Lease.TokenExpiresAt)
	}
}

func TestWhileTheHubCannotRefreshLeasesKeepTheValidTokenAndRetryLater(t *testing.T) {
	w := newOAuthWorld(t, time.Hour)
	g0, err := w.lease(t, broker.PurposeToken, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	w.clk.Add(45 * time.Minute) // due: 15 min left of 60
	w.h.FailRefreshes(1)
	for range 3 {
		g, err := w.lease(t, broker.PurposeToken, time.Second)
		if err != nil || g.Token != g0.Token {
			t.Fatalf("lease while the Hub fails: %v", err)
		}
	}
	if n, _ := w.h.Refreshes(); n != 0 {
		t.Fatalf("%d refreshes", n)
	}
	w.clk.Add(time.Minute) // past the retry pause
	g, err := w.lease(t, broker.PurposeToken, time.Second)
	if err != nil || g.Token == g0.Token || !w.works(t, g.Token) {
		t.Fatalf("lease after the Hub is back: %v", err)
	}
}

// Issue 14: in the file vault too, the pair is one item that survives a
// restart (a new File opened on the same path), and the refresh works from
// what the vault holds; the vault file holds neither token in clear.
func TestAnOAuthPairRoundTripsThroughTheFileVault(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	vault := filepath.Join(dir, "vault.age")
	open := func() *keystore.File {
		f, err := keystore.NewFile(vault, keystore.FileOptions{WorkFactor: 10})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	f := open()
	if err := f.Create(ctx, []byte("correct horse")); err != nil {
		t.Fatal(err)
	}
	w := &oauthWorld{clk: &clock{t: time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)}, h: hubtest.New(t), profiles: &broker.MemoryProfiles{}}
	w.h.SetClock(w.clk.Now)
	w.h.AddUser("alice", "Alice")
	w.h.SetOAuthLifetime(20 * time.Second)
	newBroker := func(s keystore.Store) *broker.Broker {
		b, err := broker.New(broker.Options{Store: s, Hub: &hub.Client{HTTP: w.h.Client()},
			Profiles: w.profiles, Now: w.clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	w.b = newBroker(f)
	access, refresh, exp := w.h.IssueOAuth("alice")
	if _, _, err := w.b.AddToken(ctx, broker.AddRequest{Token: secret.Token(access), Refresh: secret.Token(refresh), ExpiresAt: exp, Endpoint: w.h.URL()}); err != nil {
		t.Fatal(err)
	}
	w.clk.Add(15 * time.Second)
	if _, err := w.lease(t, broker.PurposeToken, time.Second); err != nil {
		t.Fatal(err)
	}
	// Restart: a new vault handle, unlocked, and a new broker.
	f2 := open()
	if err := f2.Unlock(ctx, []byte("correct horse")); err != nil {
		t.Fatal(err)
	}
	w.b = newBroker(f2)
	w.clk.Add(15 * time.Second)
	g, err := w.lease(t, broker.PurposeToken, time.Second)
	if err != nil || !w.works(t, g.Token) {
		t.Fatalf("after a restart on the vault: %v", err)
	}
	if n, refused := w.h.Refreshes(); n != 2 || refused != 0 {
		t.Fatalf("%d refreshes, %d refused; want 2 and 0", n, refused)
	}
	raw, err := os.ReadFile(vault)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range append(w.h.AccessTokens(), w.h.RefreshTokens()...) {
		if strings.Contains(string(raw), tok) {
			t.Fatal("the vault file holds a token in clear")
		}
	}
}

// An import of an expired login refreshes it before storing it, and the Hub
// rotates the refresh token the import came with. When the import then
// fails (the store refuses the write, as a locked vault does; whoami-v2 is
// rate-limited), the refreshed pair is the login's only live copy: the
// retry, which brings the same plaintext pair again, must still store a
// working login, not replay the dead refresh token.
func TestAFailedImportOfAnExpiredLoginDoesNotSpendItsRefreshToken(t *testing.T) {
	for _, tc := range []struct {
		name       string
		fail, heal func(w *oauthWorld)
	}{
		{"the store refuses the write",
			func(w *oauthWorld) { w.store.mu.Lock(); w.store.failSet = true; w.store.mu.Unlock() },
			func(w *oauthWorld) { w.store.mu.Lock(); w.store.failSet = false; w.store.mu.Unlock() }},
		{"whoami-v2 is rate-limited",
			func(w *oauthWorld) { w.h.RateLimit("/api/whoami-v2", time.Minute) },
			func(w *oauthWorld) { w.clk.Add(2 * time.Minute) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newOAuthWorld(t, time.Hour)
			access, refresh, exp := w.h.IssueOAuth("alice")
			w.clk.Add(2 * time.Hour) // the imported access token has expired
			req := broker.AddRequest{Name: "imported", Token: secret.Token(access), Refresh: secret.Token(refresh),
				ExpiresAt: exp, Endpoint: w.h.URL()}
			tc.fail(w)
			if _, _, err := w.b.AddToken(context.Background(), req); err == nil {
				t.Fatal("the import succeeded while it should fail")
			}
			tc.heal(w)
			p, _, err := w.b.AddToken(context.Background(), req)
			if err != nil {
				t.Fatalf("the retried import: %v", err)
			}
			if !p.OAuth || !p.ExpiresAt.After(w.clk.Now()) {
				t.Fatalf("the retried import stored %+v", p)
			}
			g, err := w.b.Lease(context.Background(), broker.LeaseRequest{Profile: "imported", Purpose: broker.PurposeToken, TTL: time.Second})
			if err != nil || !w.works(t, g.Token) {
				t.Fatalf("the imported profile gives no working token: %v", err)
			}
			if _, refused := w.h.Refreshes(); refused != 0 {
				t.Fatalf("the Hub refused %d refreshes: a rotated refresh token was replayed", refused)
			}
			// And the login keeps refreshing from what the store holds.
			w.clk.Add(2 * time.Hour)
			g, err = w.b.Lease(context.Background(), broker.LeaseRequest{Profile: "imported", Purpose: broker.PurposeToken, TTL: time.Second})
			if err != nil || !w.works(t, g.Token) {
				t.Fatalf("the imported profile does not refresh: %v", err)
			}
			if _, refused := w.h.Refreshes(); refused != 0 {
				t.Fatalf("the Hub refused %d refreshes", refused)
			}
		})
	}
}

// heldGetStore is a recordingStore whose next Get, once armed, waits until
// released: a slow keychain read.
type heldGetStore struct {
	*recordingStore
	mu       sync.Mutex
	armed    bool
	entered  chan struct{}
	released chan struct{}
}

func (s *heldGetStore) Get(ctx context.Context, name string) (secret.Token, error) {
	tok, err := s.recordingStore.Get(ctx, name)
	s.mu.Lock()
	hold := s.armed
	s.armed = false
	s.mu.Unlock()
	if hold {
		close(s.entered)
		<-s.released
	}
	return tok, err
}

// A refresh whose pair the store refused leaves the rotated refresh token
// only in memory (pending), and the store and the cache still hold the dead
// one. A lease that had read the old pair before that (a slow keychain read
// across a lock) went on to refresh with the dead refresh token: the Hub
// refused it, the profile was marked as needing a browser login, and the
// live pair was never used again. The late lease must go on from the pending
// pair instead.
func TestALeaseThatReadTheOldPairDoesNotReplayARefreshTokenTheStoreRefused(t *testing.T) {
	w := newOAuthWorld(t, 20*time.Second)
	s := &heldGetStore{recordingStore: w.store, entered: make(chan struct{}), released: make(chan struct{})}
	b, err := broker.New(broker.Options{Store: s, Hub: &hub.Client{HTTP: w.h.Client()},
		Profiles: w.profiles, Now: w.clk.Now, MaxTTL: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	w.b = b
	w.clk.Add(25 * time.Second) // expired: no lease can fall back on the old access token

	// The late lease reads the old pair, slowly.
	s.mu.Lock()
	s.armed = true
	s.mu.Unlock()
	late := make(chan error, 1)
	go func() {
		_, err := w.lease(t, broker.PurposeToken, time.Second)
		late <- err
	}()
	<-s.entered
	// Meanwhile (after a lock) another lease refreshes, and the store
	// refuses the rotated pair.
	w.b.ForgetTokens()
	w.store.mu.Lock()
	w.store.failSet = true
	w.store.mu.Unlock()
	if _, err := w.lease(t, broker.PurposeToken, time.Second); err == nil {
		t.Fatal("a lease succeeded while the store refused the refreshed pair")
	}
	w.store.mu.Lock()
	w.store.failSet = false
	w.store.mu.Unlock()
	close(s.released)
	<-late

	if _, refused := w.h.Refreshes(); refused != 0 {
		t.Fatalf("the Hub refused %d refreshes: a dead refresh token was replayed", refused)
	}
	g, err := w.lease(t, broker.PurposeToken, time.Second)
	if err != nil || !w.works(t, g.Token) {
		t.Fatalf("after the store took writes again: %v", err)
	}
	w.clk.Add(20 * time.Second)
	if g, err = w.lease(t, broker.PurposeToken, time.Second); err != nil || !w.works(t, g.Token) {
		t.Fatalf("the login no longer refreshes: %v", err)
	}
	if ps, _ := w.b.Profiles(); ps[0].NeedsLogin {
		t.Fatal("the profile is marked as needing a browser login")
	}
}
