package broker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hfbroker/hfbroker/internal/audit"
	"github.com/hfbroker/hfbroker/internal/hubapi"
	"github.com/hfbroker/hfbroker/internal/hubapi/oauthtoken"
	"github.com/hfbroker/hfbroker/internal/secret"
)

// An OAuth profile (hfbroker login --web, or an import of huggingface_hub's
// device login) keeps an access token that expires and a refresh token that
// the Hub rotates on every use. Both live in the token store as ONE item, so
// that a write replaces them together: a crash or kill -9 at any instant
// leaves either the old pair (whose refresh token the Hub has not yet seen
// used) or the new pair, never a new access token beside a dead refresh
// token. A classic hf_ value in the store reads as itself.
//
// Order of a refresh: ask the Hub; write the new pair to the store; only then
// cache it and hand the new access token out. The one window this cannot
// close is the Hub rotating and the daemon dying before the write returns:
// nothing was handed out then, and `hfbroker login --web` mends it.

// oauthItemPrefix starts the store value of an OAuth profile. It cannot be a
// Hub token (those start hf_ or api_), so old and new values never mix up.
const oauthItemPrefix = "hfbroker-oauth-v1:"

// oauthItem is the JSON after oauthItemPrefix.
type oauthItem struct {
	// ID names the login, kept across refreshes: the profile's fingerprint
	// comes from it, so a refresh does not make the profile look replaced.
	ID        string    `json:"id"`
	Access    string    `json:"access_token"`
	Refresh   string    `json:"refresh_token"`
	ExpiresAt time.Time `json:"expires_at"`
	IssuedAt  time.Time `json:"issued_at"`
	ClientID  string    `json:"client_id,omitempty"`
	// Retired holds the digests (refreshDigest) of the refresh tokens this
	// login has rotated away from, oldest first, at most maxRetired: a
	// plaintext copy that holds one is a spent copy of this login, not
	// another login (import removes it instead of importing it).
	Retired []string `json:"retired,omitempty"`
}

// maxRetired bounds oauthItem.Retired.
const maxRetired = 8

// refreshDigest names a refresh token in oauthItem.Retired: its whole
// SHA-256, not the 32-bit fingerprint, so that no other login matches.
func refreshDigest(t secret.Token) string {
	sum := sha256.Sum256([]byte(t.Reveal()))
	return hex.EncodeToString(sum[:])
}

// retire returns retired with spent added (when it is not "").
func retire(retired []string, spent secret.Token) []string {
	if spent == "" {
		return retired
	}
	out := append(slices.Clone(retired), refreshDigest(spent))
	return out[max(0, len(out)-maxRetired):]
}

// holds reports whether the item is the login of a pair: it holds the pair's
// access or refresh token, or has rotated away from that refresh token.
func (it oauthItem) holds(access, refresh secret.Token) bool {
	return it.Access == access.Reveal() || (refresh != "" && it.Refresh == refresh.Reveal()) ||
		(refresh != "" && slices.Contains(it.Retired, refreshDigest(refresh)))
}

// ErrAlreadyStored is AddToken's answer when it stored nothing because a
// profile (the one returned) already holds the OAuth login it was given.
var ErrAlreadyStored = errors.New("the login is already stored")

// oauthHolder returns the OAuth profile that holds the login of a pair
// (oauthItem.holds), looking at its stored item and at a refreshed pair
// waiting for the store. ok is false when no profile does. A profile whose
// item cannot be read is passed over: the pair is then stored again, which
// loses nothing, where an error would refuse every browser login while one
// keychain item is missing.
func (b *Broker) oauthHolder(ctx context.Context, access, refresh secret.Token) (_ Profile, ok bool) {
	profiles, _ := b.Profiles()
	for _, p := range profiles {
		if !p.OAuth {
			continue
		}
		b.oauth.mu.Lock()
		pend := b.oauth.pending[p.Name] // "" when none
		b.oauth.mu.Unlock()
		stored, _ := b.storedToken(ctx, p.Name) // "" when unreadable
		for _, tok := range []secret.Token{stored, pend} {
			if it, isOAuth := decodeOAuth(tok); isOAuth && it.holds(access, refresh) {
				return p, true
			}
		}
	}
	return Profile{}, false
}

func (it oauthItem) encode() secret.Token {
	b, err := json.Marshal(it)
	if err != nil {
		panic("marshal oauth item: " + err.Error())
	}
	return secret.Token(oauthItemPrefix + string(b))
}

// decodeOAuth reads a store value; ok is false for a classic token.
func decodeOAuth(tok secret.Token) (oauthItem, bool) {
	raw, found := strings.CutPrefix(tok.Reveal(), oauthItemPrefix)
	if !found {
		return oauthItem{}, false
	}
	var it oauthItem
	if json.Unmarshal([]byte(raw), &it) != nil || it.Access == "" {
		return oauthItem{}, false
	}
	return it, true
}

// itemFingerprint is the fingerprint a profile records for a store value:
// the token's own for a classic token, the login's for an OAuth pair.
func itemFingerprint(tok secret.Token) string {
	if it, ok := decodeOAuth(tok); ok {
		return secret.Fingerprint("oauth:" + it.ID)
	}
	return tok.Fingerprint()
}

// refreshMargin is how long before expiry a token is refreshed: the smaller
// of 24 h and half its lifetime (a 30-day token at 24 h left, a 20-second
// test token at 10 s).
func refreshMargin(it oauthItem) time.Duration {
	life := it.ExpiresAt.Sub(it.IssuedAt)
	if life <= 0 {
		return 24 * time.Hour
	}
	return min(24*time.Hour, life/2)
}

func (it oauthItem) due(now time.Time) bool {
	return it.ExpiresAt.IsZero() || !now.Before(it.ExpiresAt.Add(-refreshMargin(it)))
}

// Refresher exchanges a refresh token for new tokens (hub.Client does).
type Refresher interface {
	Refresh(ctx context.Context, endpoint, clientID string, refresh secret.Token, now time.Time) (*oauthtoken.Token, error)
}

// oauthState is the broker's refresh bookkeeping.
type oauthState struct {
	mu      sync.Mutex
	calls   map[string]*refreshCall // refreshes in flight, by profile
	pending map[string]secret.Token // refreshed pairs the store refused to take yet, by profile
	failed  map[string]time.Time    // when a profile's last refresh failed for a passing reason
	// imported holds the pair the Hub answered when an import refreshed
	// an expired login, by the refresh token the import came with, until
	// the import is stored. The Hub has rotated that refresh token, so if
	// the import then fails (a locked vault, a 429 on whoami-v2) this pair
	// is the login's only live copy, and the retry of the import, which
	// brings the same dead refresh token, goes on from it.
	imported map[secret.Token]importedPair
}

// importedPair is a refreshed pair of an import not stored yet.
type importedPair struct {
	access, refresh secret.Token
	expiresAt       time.Time
}

type refreshCall struct {
	done chan struct{}
	tok  secret.Token // the new store value
	err  error
}

// refreshTimeout bounds one refresh at the Hub; refreshRetry is how long
// after a failed refresh the next is tried while the token still works.
const (
	refreshTimeout = 30 * time.Second
	refreshRetry   = 30 * time.Second
)

// token returns the token to hand out for a profile: the classic token, or
// the OAuth access token, refreshed first when it is due.
func (b *Broker) token(ctx context.Context, name string) (secret.Token, error) {
	a, err := b.accessToken(ctx, name)
	return a.tok, err
}

// handout is a token to hand out, when it expires (zero: it does not) and
// the fingerprint of the store value it came from.
type handout struct {
	tok       secret.Token
	expiresAt time.Time
	fp        string
}

// accessToken returns the token to use now; an OAuth access token is
// refreshed first when it is due.
func (b *Broker) accessToken(ctx context.Context, name string) (handout, error) {
	// A refreshed pair the store has not taken yet goes in first: the store
	// still holds the dead refresh token.
	if err := b.savePending(ctx, name); err != nil {
		return handout{}, err
	}
	stored, err := b.storedToken(ctx, name)
	if err != nil {
		return handout{}, err
	}
	it, ok := decodeOAuth(stored)
	if !ok {
		return handout{tok: stored, fp: stored.Fingerprint()}, nil
	}
	fp := itemFingerprint(stored)
	now := b.now()
	if !it.due(now) {
		return handout{secret.Token(it.Access), it.ExpiresAt, fp}, nil
	}
	if p, err := b.profile(name); err == nil && p.NeedsLogin {
		return handout{}, needsLoginError(name)
	}
	// While the Hub is out of reach, leases keep the valid access token
	// and do not each wait for a refresh of their own.
	b.oauth.mu.Lock()
	lastFail := b.oauth.failed[name]
	b.oauth.mu.Unlock()
	if now.Before(it.ExpiresAt) && now.Sub(lastFail) < refreshRetry {
		return handout{secret.Token(it.Access), it.ExpiresAt, fp}, nil
	}
	fresh, err := b.refreshOAuth(ctx, name, stored)
	if err != nil {
		// A refresh that failed for a passing reason leaves the old access
		// token usable until it expires.
		if KindOf(err) != KindAccessDenied && now.Before(it.ExpiresAt) {
			b.oauth.mu.Lock()
			if b.oauth.failed == nil {
				b.oauth.failed = map[string]time.Time{}
			}
			b.oauth.failed[name] = now
			b.oauth.mu.Unlock()
			b.log.Warn("oauth refresh failed; using the current access token", "profile", name, "err", err)
			return handout{secret.Token(it.Access), it.ExpiresAt, fp}, nil
		}
		return handout{}, err
	}
	b.oauth.mu.Lock()
	delete(b.oauth.failed, name)
	b.oauth.mu.Unlock()
	nit, _ := decodeOAuth(fresh)
	return handout{secret.Token(nit.Access), nit.ExpiresAt, fp}, nil
}

func needsLoginError(name string) error {
	return errorf(KindAccessDenied, fmt.Sprintf("run 'hfbroker login --web --name %s'", name),
		"profile %q needs a new browser login: the Hub refused its refresh token", name)
}

// refreshOAuth refreshes a profile's pair once for every caller that asks
// while it runs (50 leases at the moment of expiry make one refresh). The
// refresh runs on a context of its own: a caller giving up does not leave
// the others, or the store, with half a refresh.
func (b *Broker) refreshOAuth(ctx context.Context, name string, seen secret.Token) (secret.Token, error) {
	b.oauth.mu.Lock()
	if b.oauth.calls == nil {
		b.oauth.calls = map[string]*refreshCall{}
	}
	c, running := b.oauth.calls[name]
	if !running {
		c = &refreshCall{done: make(chan struct{})}
		b.oauth.calls[name] = c
		go func() {
			c.tok, c.err = b.doRefresh(name, seen)
			b.oauth.mu.Lock()
			delete(b.oauth.calls, name)
			b.oauth.mu.Unlock()
			close(c.done)
		}()
	}
	b.oauth.mu.Unlock()
	select {
	case <-c.done:
		return c.tok, c.err
	case <-ctx.Done():
		return "", &Error{Kind: KindHub, Msg: "the token refresh did not finish in time", Err: ctx.Err()}
	}
}

// doRefresh asks the Hub for a new pair, writes it to the store, and only
// then caches it.
func (b *Broker) doRefresh(name string, seen secret.Token) (secret.Token, error) {
	// A refresh whose pair the store refused may have finished after our
	// caller's savePending: the refresh token our caller read is dead, and
	// the live pair waits in pending. Store it first and go on from it.
	b.oauth.mu.Lock()
	pend, pending := b.oauth.pending[name]
	b.oauth.mu.Unlock()
	if pending {
		ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
		err := b.savePending(ctx, name)
		cancel()
		if err != nil {
			return "", err
		}
		if p, err := b.profile(name); err != nil || p.Fingerprint != itemFingerprint(pend) {
			return "", errorf(KindNotFound, "", "profile %q changed while refreshing; try again", name)
		}
		if it, ok := decodeOAuth(pend); ok && !it.due(b.now()) {
			return pend, nil
		}
		seen = pend
	}
	// Another refresh may have finished between our read and our turn.
	b.mu.Lock()
	cur, cached := b.tokens[name]
	b.mu.Unlock()
	if cached && cur != seen {
		if it, ok := decodeOAuth(cur); ok && !it.due(b.now()) {
			return cur, nil
		}
		seen = cur
	}
	old, ok := decodeOAuth(seen)
	if !ok {
		return seen, nil
	}
	p, err := b.profile(name)
	if err != nil {
		return "", err
	}
	r, ok := b.opts.Hub.(Refresher)
	if !ok || b.opts.Hub == nil {
		return "", errorf(KindHub, "", "no Hub client can refresh OAuth tokens")
	}
	if old.Refresh == "" {
		return "", b.markNeedsLogin(name, p.Fingerprint)
	}
	ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
	defer cancel()
	now := b.now()
	ans, err := r.Refresh(ctx, p.Endpoint, b.clientID(old), secret.Token(old.Refresh), now)
	if err != nil {
		if hubapi.IsOAuthError(err, hubapi.OAuthInvalidGrant) {
			b.audit(audit.Event{Event: "token.refresh_refused", Profile: name, Fingerprint: p.Fingerprint}, Caller{})
			return "", b.markNeedsLogin(name, p.Fingerprint)
		}
		return "", &Error{Kind: KindHub, Msg: "refresh the OAuth token of profile " + name, Err: err,
			Hint: "check HF_ENDPOINT and your network; 'hfbroker doctor' shows the token's expiry"}
	}
	nit := oauthItem{ID: old.ID, Access: ans.Access.Reveal(), Refresh: ans.Refresh.Reveal(),
		ExpiresAt: ans.ExpiresAt.UTC().Round(0), IssuedAt: now.UTC().Round(0), ClientID: old.ClientID}
	if nit.Refresh == "" {
		nit.Refresh = old.Refresh // the Hub kept the refresh token
	}
	nit.Retired = old.Retired
	if nit.Refresh != old.Refresh {
		nit.Retired = retire(old.Retired, secret.Token(old.Refresh))
	}
	if nit.ExpiresAt.IsZero() {
		nit.ExpiresAt = old.ExpiresAt
	}
	fresh := nit.encode()

	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	b.mu.Lock()
	cp, still := b.profiles[name]
	gen := b.gen
	b.mu.Unlock()
	if !still || cp.Fingerprint != p.Fingerprint {
		return "", errorf(KindNotFound, "", "profile %q changed while refreshing; try again", name)
	}
	// The store first: until this returns, nobody gets the new access token.
	serr := b.currentStore().Set(ctx, name, fresh)
	if serr != nil {
		// The old refresh token is dead, so this pair is the only live one:
		// keep it aside (even across a lock) until the store takes it;
		// savePending writes it before anything is handed out.
		b.oauth.mu.Lock()
		if b.oauth.pending == nil {
			b.oauth.pending = map[string]secret.Token{}
		}
		b.oauth.pending[name] = fresh
		b.oauth.mu.Unlock()
	}
	b.mu.Lock()
	if gen == b.gen && serr == nil {
		b.tokens[name] = fresh
	}
	upd := *cp
	upd.ExpiresAt, upd.NeedsLogin, upd.OAuth = nit.ExpiresAt, false, true
	b.profiles[name] = &upd
	if err := b.saveLocked(); err != nil {
		b.profiles[name] = cp
		b.log.Warn("save profile metadata after refresh", "profile", name, "err", err)
	}
	b.mu.Unlock()
	b.audit(audit.Event{Event: "token.refreshed", Profile: name, Fingerprint: p.Fingerprint}, Caller{})
	if serr != nil {
		b.log.Error("the store refused a refreshed OAuth token; it is kept in memory until the store takes it", "profile", name, "err", serr)
		return "", b.storeError(serr, name, "store the refreshed token")
	}
	return fresh, nil
}

// savePending writes a refreshed pair that the store refused (locked
// vault, keychain timeout) before any token of the profile is handed out.
func (b *Broker) savePending(ctx context.Context, name string) error {
	b.oauth.mu.Lock()
	tok, pending := b.oauth.pending[name]
	b.oauth.mu.Unlock()
	if !pending {
		return nil
	}
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	b.mu.Lock()
	p, still := b.profiles[name]
	b.mu.Unlock()
	// Only into the login it belongs to: not over a new login of that name.
	if still && p.Fingerprint == itemFingerprint(tok) {
		if err := b.currentStore().Set(ctx, name, tok); err != nil {
			return b.storeError(err, name, "store the refreshed token")
		}
	}
	b.oauth.mu.Lock()
	if b.oauth.pending[name] == tok {
		delete(b.oauth.pending, name)
	}
	b.oauth.mu.Unlock()
	b.mu.Lock()
	delete(b.tokens, name) // read back what the store now holds
	b.mu.Unlock()
	return nil
}

// markNeedsLogin records that the Hub refused the profile's refresh token.
func (b *Broker) markNeedsLogin(name, fingerprint string) error {
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if cur, ok := b.profiles[name]; ok && cur.Fingerprint == fingerprint && !cur.NeedsLogin {
		upd := *cur
		upd.NeedsLogin = true
		b.profiles[name] = &upd
		if err := b.saveLocked(); err != nil {
			b.profiles[name] = cur
		}
	}
	return needsLoginError(name)
}

func (b *Broker) clientID(it oauthItem) string {
	if it.ClientID != "" {
		return it.ClientID
	}
	return hubapi.OAuthClientID(b.opts.OAuthClientID, "")
}

// newOAuthItem makes the store value of a fresh login.
func (b *Broker) newOAuthItem(req AddRequest, now time.Time) secret.Token {
	it := oauthItem{ID: newID("o-"), Access: req.Token.Reveal(), Refresh: req.Refresh.Reveal(),
		ExpiresAt: req.ExpiresAt.UTC().Round(0), IssuedAt: now.UTC().Round(0), ClientID: req.ClientID}
	if req.importedFrom != req.Refresh {
		// An import refreshed first: huggingface_hub's copy holds the
		// refresh token the Hub has just rotated away.
		it.Retired = retire(nil, req.importedFrom)
	}
	return it.encode()
}

// refreshBeforeAdd refreshes an imported pair whose access token has
// expired (or expires within its margin) before it is verified and stored.
// The pair the Hub answers is kept (oauthState.imported) until AddToken has
// stored it: a retry of a failed import starts from it, not from the
// refresh token the Hub has just rotated away.
func (b *Broker) refreshBeforeAdd(ctx context.Context, req *AddRequest) error {
	r, ok := b.opts.Hub.(Refresher)
	if !ok || b.opts.Hub == nil {
		return errorf(KindHub, "", "no Hub client can refresh OAuth tokens")
	}
	now := b.now()
	orig := req.Refresh
	req.importedFrom = orig
	b.oauth.mu.Lock()
	prev, seen := b.oauth.imported[orig]
	b.oauth.mu.Unlock()
	if seen {
		req.Token, req.Refresh, req.ExpiresAt = prev.access, prev.refresh, prev.expiresAt
		if !prev.expiresAt.IsZero() && now.Before(prev.expiresAt) {
			req.refreshed = true
			return nil
		}
	}
	ans, err := r.Refresh(ctx, req.Endpoint, hubapi.OAuthClientID(req.ClientID, b.opts.OAuthClientID), req.Refresh, now)
	if err != nil {
		if hubapi.IsOAuthError(err, hubapi.OAuthInvalidGrant) {
			return errorf(KindAccessDenied, "run 'hfbroker login --web' to log in again",
				"the Hub refused the refresh token: the login has expired or was revoked")
		}
		return &Error{Kind: KindHub, Msg: "refresh the OAuth token", Err: err,
			Hint: "check HF_ENDPOINT and your network"}
	}
	req.Token, req.ExpiresAt = ans.Access, ans.ExpiresAt
	if ans.Refresh != "" {
		req.Refresh = ans.Refresh
	}
	b.oauth.mu.Lock()
	if b.oauth.imported == nil {
		b.oauth.imported = map[secret.Token]importedPair{}
	}
	b.oauth.imported[orig] = importedPair{access: req.Token, refresh: req.Refresh, expiresAt: req.ExpiresAt}
	b.oauth.mu.Unlock()
	req.refreshed = true
	return nil
}

// importStored forgets the refreshed pair of an import once it is stored.
func (b *Broker) importStored(req AddRequest) {
	if req.importedFrom == "" {
		return
	}
	b.oauth.mu.Lock()
	delete(b.oauth.imported, req.importedFrom)
	b.oauth.mu.Unlock()
}

// RefreshNow refreshes an OAuth profile at once, whatever its expiry
// (import proves an imported pair works this way).
func (b *Broker) RefreshNow(ctx context.Context, name string) (Profile, error) {
	stored, err := b.storedToken(ctx, name)
	if err != nil {
		return Profile{}, err
	}
	if _, ok := decodeOAuth(stored); !ok {
		return Profile{}, errorf(KindInvalid, "", "profile %q holds no refresh token", name)
	}
	if _, err := b.refreshOAuth(ctx, name, stored); err != nil {
		return Profile{}, err
	}
	return b.profile(name)
}

// LeaseToken returns the live lease and the token its requests carry now,
// read through the broker's cache from the store: for an OAuth profile the
// current access token, refreshed when due, so a proxy lease outlives any
// one access token; and a proxy lease restored after a restart gets its
// token back this way. It fails if the profile now holds another token.
func (b *Broker) LeaseToken(ctx context.Context, id string) (Lease, secret.Token, error) {
	l, ok := b.LeaseValid(id)
	if !ok {
		return Lease{}, "", errorf(KindNotFound, "", "no live lease %q", id)
	}
	a, err := b.accessToken(ctx, l.Profile)
	if err != nil {
		return Lease{}, "", err
	}
	if a.fp != l.Fingerprint {
		return Lease{}, "", errorf(KindNotFound, "", "the token of profile %q changed since lease %s was granted", l.Profile, id)
	}
	return l, a.tok, nil
}
