// Package broker owns profiles, token choice and leases. It does no I/O of its
// own: the token store, the Hub, the audit log, the clock and process
// liveness come in through interfaces, so its rules are tested in-process.
package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hfbroker/hfbroker/internal/audit"
	"github.com/hfbroker/hfbroker/internal/hub"
	"github.com/hfbroker/hfbroker/internal/keystore"
	"github.com/hfbroker/hfbroker/internal/secret"
)

// Store keeps tokens: one of keystore's backends.
type Store = keystore.Store

// Hub answers whoami-v2 for a token.
type Hub interface {
	Whoami(ctx context.Context, endpoint string, tok secret.Token) (*hub.Whoami, error)
}

// AuditSink receives audit events.
type AuditSink interface {
	Write(audit.Event) error
}

// Options configure a Broker.
type Options struct {
	Store    Store
	Hub      Hub
	Audit    AuditSink // nil: no audit
	Profiles *ProfileStore
	Procs    Procs            // nil: the operating system's processes
	Now      func() time.Time // nil: time.Now
	Logger   *slog.Logger     // nil: discard

	// The initial Settings (see Configure).
	DefaultTTL time.Duration
	MaxTTL     time.Duration
	GitTTL     time.Duration
	// MaxUntilExit bounds a lease that ends with its processes rather than
	// at a TTL (exec --ttl 0): 30 days unless set.
	MaxUntilExit time.Duration
	Routes       []Route
	// GitPrefer is "write" (default) or "read": which token git gets when
	// its request does not say whether it will push.
	GitPrefer string
	// ReapInterval is how often leases are checked for expiry and for their
	// process having exited.
	ReapInterval time.Duration
	// OnLeaseEnd, when set, is told of every lease that ends (the proxy
	// forgets its lease token).
	OnLeaseEnd func(Lease)
	// OnLeasesChanged, when set, is told that a lease was granted or
	// renewed (the daemon saves its lease state).
	OnLeasesChanged func()
	// OAuthClientID is the client id for refreshing OAuth tokens whose
	// login did not record one ("" means hub.DefaultOAuthClientID).
	OAuthClientID string
	// OnIdle, when set, is called by Run when the last of a burst of
	// leases (shrinkAfter or more at once) has ended: the daemon gives the
	// burst's memory back to the system then.
	OnIdle func()
}

// Route sends requests for repos matching Match to Profile.
// A route with Dir instead sends leases that name no repo, taken by a
// process working in Dir or below it, to Profile.
type Route struct {
	Match   string
	Dir     string // absolute and clean
	Profile string
}

// Settings are the parts of config.toml the broker follows. The daemon
// swaps them with Configure when config.toml changes, without a restart.
type Settings struct {
	DefaultTTL time.Duration
	MaxTTL     time.Duration
	GitTTL     time.Duration
	// MaxUntilExit bounds a lease that ends with its processes rather than
	// at a TTL (exec --ttl 0): 30 days unless set.
	MaxUntilExit time.Duration
	Routes       []Route
	GitPrefer    string
}

// Configure makes s the settings of every request from now on; zero TTLs
// take their defaults. Leases already granted keep their expiry.
func (b *Broker) Configure(s Settings) {
	if s.DefaultTTL <= 0 {
		s.DefaultTTL = time.Hour
	}
	if s.MaxTTL <= 0 {
		s.MaxTTL = 12 * time.Hour
	}
	if s.GitTTL <= 0 {
		s.GitTTL = 15 * time.Minute
	}
	if s.MaxUntilExit <= 0 {
		s.MaxUntilExit = 30 * 24 * time.Hour
	}
	s.Routes = slices.Clone(s.Routes)
	b.settings.Store(&s)
}

func (b *Broker) cfg() *Settings { return b.settings.Load() }

// Broker is the daemon's core.
type Broker struct {
	opts Options
	now  func() time.Time
	log  *slog.Logger

	settings atomic.Pointer[Settings]

	writeMu sync.Mutex // serialises profile changes (store + metadata) end to end

	// unlockTurn, a one-slot semaphore, serialises passphrase attempts (a
	// channel, not a Mutex, so a waiter can give up when its caller does);
	// unlockNext, guarded by it, is when the next attempt may run (see
	// passphraseAttempt).
	unlockTurn chan struct{}
	unlockNext time.Time

	mu        sync.Mutex
	profiles  map[string]*Profile
	def       string
	tokens    map[string]secret.Token // read-through cache of the store
	reads     map[string]*tokenRead   // store reads in flight, by profile
	leases    map[string]*Lease
	hubWait   map[string]time.Time // endpoint -> no whoami calls before this (429)
	repoInfos map[string]repoInfoEntry

	exitMu   sync.Mutex    // serialises processesExited
	ended    endedLeases   // why recent leases ended, guarded by mu
	reapWake chan struct{} // wakes Run when a lease is due before reapAt
	reapAt   time.Time     // when Run will next look at leases; zero: never, guarded by mu
	leaseMax int           // the most leases held since the map was last made anew, guarded by mu
	due      reapQueue     // the leases by deadline, and those to poll (reapqueue.go), guarded by mu
	reapNext time.Time     // Reap's last run plus reapGap: Run does not reap again before, guarded by mu

	pids  *pidWatcher      // nil: poll only
	procs map[int]procInfo // processes watched through pids, guarded by mu

	store      Store // guarded by mu; replaced by Migrate
	unlockFail int   // consecutive wrong passphrases, guarded by mu
	gen        int   // bumped when cached tokens are forgotten, guarded by mu

	leaseKey      []byte // LeaseKey's key, read from leaseKeyStore; guarded by mu
	leaseKeyStore Store
	oauth         oauthState // OAuth refreshes in flight (oauth.go)
	web           webLogins  // browser logins waiting for approval (weblogin.go)
}

func (b *Broker) currentStore() Store {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.store
}

// New loads profile metadata and returns a Broker.
func New(opts Options) (*Broker, error) {
	if opts.Store == nil || opts.Profiles == nil {
		return nil, errors.New("broker: a store and a profile store are required")
	}
	b := &Broker{
		opts:       opts,
		now:        opts.Now,
		log:        opts.Logger,
		tokens:     map[string]secret.Token{},
		reads:      map[string]*tokenRead{},
		leases:     map[string]*Lease{},
		hubWait:    map[string]time.Time{},
		repoInfos:  map[string]repoInfoEntry{},
		procs:      map[int]procInfo{},
		store:      opts.Store,
		reapWake:   make(chan struct{}, 1),
		unlockTurn: make(chan struct{}, 1),
	}
	if b.now == nil {
		b.now = time.Now
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.opts.Procs == nil {
		b.opts.Procs = osProcs{}
	}
	b.Configure(Settings{DefaultTTL: opts.DefaultTTL, MaxTTL: opts.MaxTTL, GitTTL: opts.GitTTL,
		Routes: opts.Routes, GitPrefer: opts.GitPrefer, MaxUntilExit: opts.MaxUntilExit})
	if b.opts.ReapInterval <= 0 {
		b.opts.ReapInterval = 200 * time.Millisecond
	}
	if _, real := b.opts.Procs.(osProcs); real {
		b.pids = newPidWatcher()
	}
	profiles, def, err := opts.Profiles.Load()
	if err != nil {
		return nil, err
	}
	b.profiles, b.def = profiles, def
	return b, nil
}

// StoreKind names the token store backend.
func (b *Broker) StoreKind() string { return b.currentStore().Kind() }

// AddRequest asks to store a token.
type AddRequest struct {
	Name        string
	Token       secret.Token
	Endpoint    string
	MakeDefault bool
	NoVerify    bool
	Caller      Caller

	// Refresh, when set, makes an OAuth profile: Token is its access token,
	// ExpiresAt when that expires, ClientID the OAuth client that issued
	// it ("" for the default). Both tokens go into one store item.
	Refresh   secret.Token
	ExpiresAt time.Time
	ClientID  string
	refreshed bool // refreshBeforeAdd already proved the pair works
}

// AddToken verifies a token with the Hub (unless NoVerify), stores it in the
// store and records its metadata. The first profile becomes the default.
func (b *Broker) AddToken(ctx context.Context, req AddRequest) (Profile, bool, error) {
	if err := secret.Check(req.Token.Reveal()); err != nil {
		hint := "paste the whole token from your Hub settings, e.g. hf_…"
		if errors.Is(err, secret.ErrOrgToken) {
			hint = "create a personal access token at " + req.Endpoint + "/settings/tokens"
		}
		return Profile{}, false, &Error{Kind: KindInvalid, Msg: err.Error(), Hint: hint}
	}
	if req.Name != "" {
		if err := CheckName(req.Name); err != nil {
			return Profile{}, false, err
		}
	}
	if req.Refresh != "" && (req.ExpiresAt.IsZero() || !b.now().Before(req.ExpiresAt)) {
		// An imported login whose access token has expired: refresh it
		// first, so what is stored works.
		if err := b.refreshBeforeAdd(ctx, &req); err != nil {
			return Profile{}, false, err
		}
	}
	var who *hub.Whoami
	if !req.NoVerify {
		if b.opts.Hub == nil {
			return Profile{}, false, errorf(KindHub, "use --no-verify to store it without checking", "no Hub client configured")
		}
		if err := b.hubWaiting(req.Endpoint, "use --no-verify to store it without checking"); err != nil {
			return Profile{}, false, err
		}
		w, err := b.opts.Hub.Whoami(ctx, req.Endpoint, req.Token)
		if err != nil {
			b.noteRateLimit(req.Endpoint, err)
			return Profile{}, false, hubError(err, req.Endpoint, "use --no-verify to store it without checking")
		}
		who = w
	}
	name := req.Name
	if name == "" && who != nil && who.Auth.AccessToken != nil {
		name = sanitizeName(who.Auth.AccessToken.DisplayName)
	}
	if name == "" && who != nil && who.Auth.AccessToken == nil && who.Name != "" {
		// OAuth tokens have no display name; huggingface_hub stores them as oauth-<user>.
		name = sanitizeName("oauth-" + who.Name)
	}
	if name == "" {
		name = "default"
	}

	now := b.now()
	stored := req.Token
	if req.Refresh != "" {
		if req.ExpiresAt.IsZero() && who != nil && who.Auth.ExpiresAt != nil {
			req.ExpiresAt = *who.Auth.ExpiresAt
		}
		stored = b.newOAuthItem(req, now)
	}
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	if err := b.currentStore().Set(ctx, name, stored); err != nil {
		return Profile{}, false, b.storeError(err, name, "store the token")
	}
	p := &Profile{
		Name:        name,
		Endpoint:    req.Endpoint,
		AddedAt:     now.UTC().Round(0),
		Fingerprint: itemFingerprint(stored),
		Whoami:      who,
		OAuth:       req.Refresh != "",
		ExpiresAt:   req.ExpiresAt.UTC().Round(0),
	}
	if p.ExpiresAt.IsZero() && who != nil && who.Auth.ExpiresAt != nil {
		p.ExpiresAt = who.Auth.ExpiresAt.UTC().Round(0)
	}
	if who != nil {
		p.VerifiedAt = now.UTC().Round(0)
	}
	b.mu.Lock()
	old, replaced := b.profiles[name]
	oldTok, hadTok := b.tokens[name]
	b.profiles[name] = p
	b.tokens[name] = stored
	def := b.def
	if req.MakeDefault || def == "" {
		b.def = name
	}
	err := b.saveLocked()
	var ended []*Lease
	if err != nil {
		// Put memory back as it was; the metadata on disk never changed.
		b.profiles[name] = old
		if !replaced {
			delete(b.profiles, name)
		}
		delete(b.tokens, name)
		if hadTok {
			b.tokens[name] = oldTok
		}
		b.def = def
	} else if replaced && old.Fingerprint != p.Fingerprint {
		ended = b.takeLeasesLocked(func(l *Lease) bool { return l.Profile == name })
	}
	out := *p
	b.mu.Unlock()
	if err != nil {
		// The store holds the new token while the metadata names the old
		// one: put the old token back (best effort), or take the new out.
		if hadTok {
			b.currentStore().Set(ctx, name, oldTok)
		} else if !replaced {
			b.currentStore().Delete(ctx, name)
		}
		return Profile{}, false, err
	}
	b.endLeases(ended, "token-replaced")
	b.audit(audit.Event{Event: "token.added", Profile: name, Fingerprint: p.Fingerprint}, req.Caller)
	return out, replaced, nil
}

// RemoveToken deletes a profile's token and metadata and ends its leases.
func (b *Broker) RemoveToken(ctx context.Context, name string, caller Caller) (int, error) {
	if err := CheckName(name); err != nil {
		return 0, err
	}
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	b.mu.Lock()
	p, ok := b.profiles[name]
	b.mu.Unlock()
	if !ok {
		return 0, b.unknownProfile(name)
	}
	if err := b.currentStore().Delete(ctx, name); err != nil && !errors.Is(err, keystore.ErrNotFound) {
		return 0, b.storeError(err, name, "delete the token")
	}
	b.mu.Lock()
	delete(b.profiles, name)
	delete(b.tokens, name)
	if b.def == name {
		b.def = ""
		if len(b.profiles) == 1 {
			for n := range b.profiles {
				b.def = n
			}
		}
	}
	ended := b.takeLeasesLocked(func(l *Lease) bool { return l.Profile == name })
	err := b.saveLocked()
	b.mu.Unlock()
	b.endLeases(ended, "profile-removed")
	b.audit(audit.Event{Event: "token.removed", Profile: name, Fingerprint: p.Fingerprint}, caller)
	return len(ended), err
}

// Profiles returns copies of every profile, sorted by name, and the default's name.
func (b *Broker) Profiles() ([]Profile, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Profile, 0, len(b.profiles))
	for _, p := range sortedProfiles(b.profiles) {
		out = append(out, *p)
	}
	return out, b.def
}

// SetDefault makes name the default profile.
func (b *Broker) SetDefault(name string) (Profile, error) {
	if err := CheckName(name); err != nil {
		return Profile{}, err
	}
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.profiles[name]
	if !ok {
		return Profile{}, b.unknownProfileLocked(name)
	}
	old := b.def
	b.def = name
	if err := b.saveLocked(); err != nil {
		b.def = old
		return Profile{}, err
	}
	return *p, nil
}

// Whoami returns what the Hub said about a profile's token; with refresh, or
// when the answer is stale, it asks the Hub again.
func (b *Broker) Whoami(ctx context.Context, name string, refresh bool) (Profile, error) {
	p, err := b.profile(name)
	if err != nil {
		return Profile{}, err
	}
	if !refresh && !p.Stale && p.Whoami != nil {
		return p, nil
	}
	return b.refresh(ctx, p)
}

// refresh asks the Hub about p's token and stores the answer. While the Hub
// rate-limits whoami-v2 on p's endpoint it does not ask at all: the endpoint
// is "intentionally strict", and a retry storm only extends the ban.
func (b *Broker) refresh(ctx context.Context, p Profile) (Profile, error) {
	if b.opts.Hub == nil {
		return Profile{}, errorf(KindHub, "", "no Hub client configured")
	}
	const waitHint = "use the cached answer ('hfbroker whoami' without --refresh), or wait"
	if err := b.hubWaiting(p.Endpoint, waitHint); err != nil {
		return Profile{}, err
	}
	tok, err := b.token(ctx, p.Name)
	if err != nil {
		return Profile{}, err
	}
	who, err := b.opts.Hub.Whoami(ctx, p.Endpoint, tok)
	if err != nil {
		b.noteRateLimit(p.Endpoint, err)
		if errors.Is(err, hub.ErrInvalidToken) {
			b.markRejected(p.Name, p.Fingerprint)
		}
		return Profile{}, hubError(err, p.Endpoint, waitHint)
	}
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	cur, ok := b.profiles[p.Name]
	if !ok || cur.Fingerprint != p.Fingerprint {
		return Profile{}, errorf(KindNotFound, "", "profile %q changed while asking the Hub; try again", p.Name)
	}
	upd := *cur
	upd.Whoami, upd.VerifiedAt, upd.Stale, upd.Rejected = who, b.now().UTC().Round(0), false, false
	b.profiles[p.Name] = &upd
	if err := b.saveLocked(); err != nil {
		b.profiles[p.Name] = cur
		return Profile{}, err
	}
	return upd, nil
}

// refreshStale re-checks, before a choice by repo, the profiles whose Hub
// metadata is stale (git erased their credential) or missing (--no-verify).
// Failures keep the old metadata: the choice then explains itself with it.
func (b *Broker) refreshStale(ctx context.Context) {
	ps, _ := b.Profiles()
	for _, p := range ps {
		if (p.Stale || p.Whoami == nil) && !p.Rejected {
			if _, err := b.refresh(ctx, p); err != nil {
				b.log.Debug("refresh of stale profile failed", "profile", p.Name, "err", err)
			}
		}
	}
}

// profile returns a copy of the named profile, or of the default when name is "".
func (b *Broker) profile(name string) (Profile, error) {
	if name != "" {
		if err := CheckName(name); err != nil {
			return Profile{}, err
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if name == "" {
		if b.def == "" {
			if len(b.profiles) == 0 {
				return Profile{}, errorf(KindNotFound, "run 'hfbroker login'", "no token is stored")
			}
			return Profile{}, errorf(KindNotFound, "run 'hfbroker switch NAME' or pass --profile", "no default profile is set")
		}
		name = b.def
	}
	p, ok := b.profiles[name]
	if !ok {
		return Profile{}, b.unknownProfileLocked(name)
	}
	return *p, nil
}

// tokenRead is one read of a profile's token from the store, shared by
// every caller that asks for it while it runs.
type tokenRead struct {
	gen  int
	done chan struct{}
	tok  secret.Token
	err  error
}

// storedToken reads a profile's store value, from memory after the first
// read: a classic token, or an OAuth pair (see oauth.go; token decodes it).
//
// Callers that miss the cache together share one store read: a cluster job
// starting hundreds of processes against a fresh daemon would otherwise
// queue hundreds of reads of the same keychain item, and the last ones
// would time out. A caller whose context ends stops waiting; the read goes
// on for the others, and if it was the one that failed for its own
// context's sake, the others start a new one.
func (b *Broker) storedToken(ctx context.Context, name string) (secret.Token, error) {
	for {
		b.mu.Lock()
		if tok, ok := b.tokens[name]; ok {
			b.mu.Unlock()
			return tok, nil
		}
		r, running := b.reads[name]
		if !running || r.gen != b.gen {
			r = &tokenRead{gen: b.gen, done: make(chan struct{})}
			b.reads[name] = r
			store := b.store
			b.mu.Unlock()
			b.readToken(ctx, store, name, r)
		} else {
			b.mu.Unlock()
		}
		select {
		case <-r.done:
		case <-ctx.Done():
			return "", b.storeError(ctx.Err(), name, "read the token")
		}
		if r.err != nil && ctx.Err() == nil && (errors.Is(r.err, context.Canceled) || errors.Is(r.err, context.DeadlineExceeded)) {
			continue // the reader's context ended, not ours: read again
		}
		if r.err != nil {
			return "", b.storeError(r.err, name, "read the token")
		}
		return r.tok, nil
	}
}

// readToken runs r, caching its token if the read is still current.
func (b *Broker) readToken(ctx context.Context, store Store, name string, r *tokenRead) {
	tok, err := store.Get(ctx, name)
	b.mu.Lock()
	r.tok, r.err = tok, err
	if b.reads[name] == r {
		delete(b.reads, name)
	}
	// Cache only if no lock or store change happened while we read: a
	// token read just before `hfbroker lock` must not outlive it; and only
	// the token the profile's metadata describes: a slow read may return
	// the token an AddToken has just replaced.
	if err == nil {
		if p, still := b.profiles[name]; still && r.gen == b.gen && p.Fingerprint == itemFingerprint(tok) {
			if _, cached := b.tokens[name]; !cached {
				b.tokens[name] = tok
			}
		}
	}
	b.mu.Unlock()
	close(r.done)
}

// ForgetTokens drops every token cached in memory (lock, store change).
func (b *Broker) ForgetTokens() {
	b.mu.Lock()
	b.gen++
	clear(b.tokens)
	b.mu.Unlock()
}

func (b *Broker) unknownProfile(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.unknownProfileLocked(name)
}

func (b *Broker) unknownProfileLocked(name string) error {
	hint := "run 'hfbroker list' to see your profiles"
	if len(b.profiles) == 0 {
		hint = "run 'hfbroker login' to store a token"
	}
	return errorf(KindNotFound, hint, "no profile named %q", name)
}

func (b *Broker) saveLocked() error {
	if err := b.opts.Profiles.Save(b.profiles, b.def); err != nil {
		return &Error{Kind: KindInternal, Msg: "save profile metadata", Err: err}
	}
	return nil
}

func (b *Broker) storeError(err error, name, doing string) error {
	switch {
	case errors.Is(err, keystore.ErrNotFound):
		return &Error{Kind: KindNotFound, Msg: fmt.Sprintf("the %s store no longer holds the token of profile %q", b.currentStore().Kind(), name),
			Hint: fmt.Sprintf("run 'hfbroker login --name %s' to store it again", name)}
	case errors.Is(err, keystore.ErrLocked) && b.currentStore().Kind() == "file" && !errors.Is(err, keystore.ErrTimeout):
		return &Error{Kind: KindLocked, Msg: "locked: run 'hfbroker unlock'"}
	case errors.Is(err, keystore.ErrTimeout):
		return &Error{Kind: KindKeychain, Msg: fmt.Sprintf("%s: the keychain did not answer in time", doing),
			Hint: "unlock your keyring (an unlock prompt may be waiting), then try again; 'hfbroker doctor' checks it"}
	case errors.Is(err, keystore.ErrLocked):
		return &Error{Kind: KindKeychain, Msg: fmt.Sprintf("%s: the keychain is locked", doing),
			Hint: "unlock your login keyring, then try again"}
	case errors.Is(err, keystore.ErrNoKeychain):
		return &Error{Kind: KindKeychain, Msg: fmt.Sprintf("%s: no keychain is available (%v)", doing, rootCause(err)),
			Hint: "start a Secret Service (gnome-keyring) in your session, or set backend = \"file\" in config.toml"}
	}
	return &Error{Kind: KindKeychain, Msg: doing, Err: err}
}

// hubError turns a Hub client error into a broker Error a person can act on.
func hubError(err error, endpoint, waitHint string) error {
	switch {
	case errors.Is(err, hub.ErrInvalidToken):
		return &Error{Kind: KindHub, Msg: "the Hub rejected the token: Invalid credentials in Authorization header",
			Hint: "check that you copied the whole token, or create a new one at " + endpoint + "/settings/tokens", cause: err}
	case errors.Is(err, hub.ErrRateLimited):
		msg := "the Hub rate-limited whoami-v2"
		if rl, ok := errors.AsType[*hub.RateLimitError](err); ok && rl.Reset > 0 {
			msg += fmt.Sprintf("; retry in %s", rl.Reset)
		}
		return &Error{Kind: KindHub, Msg: msg, Hint: waitHint, cause: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Kind: KindHub, Msg: "the Hub at " + endpoint + " did not answer in time",
			Hint: "check HF_ENDPOINT and your network, or use --no-verify to store it without checking", cause: err}
	}
	return &Error{Kind: KindHub, Msg: "verify the token with " + endpoint, Err: err,
		Hint: "check HF_ENDPOINT and your network, or use --no-verify to store it without checking"}
}

// hubWaiting refuses to call whoami-v2 on an endpoint inside a 429 window.
func (b *Broker) hubWaiting(endpoint, hint string) error {
	now := b.now()
	b.mu.Lock()
	until := b.hubWait[endpoint]
	b.mu.Unlock()
	if now.Before(until) {
		return &Error{Kind: KindHub, Msg: fmt.Sprintf("the Hub rate-limited whoami-v2; not asking again for %s", until.Sub(now).Round(time.Second)), Hint: hint, cause: hub.ErrRateLimited}
	}
	return nil
}

// noteRateLimit starts a 429 window: no whoami-v2 calls to the endpoint
// until the Hub's RateLimit header says the window resets.
func (b *Broker) noteRateLimit(endpoint string, err error) {
	rl, ok := errors.AsType[*hub.RateLimitError](err)
	if !ok {
		return
	}
	wait := rl.Reset
	if wait <= 0 {
		wait = 5 * time.Minute // the Hub's rate-limit windows are 5 minutes
	}
	b.mu.Lock()
	b.hubWait[endpoint] = b.now().Add(wait)
	b.mu.Unlock()
}

// markRejected records that the Hub answered 401 for a profile's token
// (revoked or deleted), so the choice skips it and doctor says what to do.
func (b *Broker) markRejected(name, fingerprint string) {
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	cur, ok := b.profiles[name]
	if !ok || cur.Fingerprint != fingerprint || cur.Rejected {
		return
	}
	upd := *cur
	upd.Rejected = true
	b.profiles[name] = &upd
	if err := b.saveLocked(); err != nil {
		b.profiles[name] = cur
	}
}

func newID(prefix string) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return prefix + hex.EncodeToString(b[:])
}

func (b *Broker) audit(ev audit.Event, c Caller) {
	if b.opts.Audit == nil {
		return
	}
	ev = b.auditEvent(ev, c)
	if err := b.opts.Audit.Write(ev); err != nil {
		b.log.Warn("audit write failed", "event", ev.Event, "err", err)
	}
}

// auditAll writes evs, each with its caller, with one write where the sink
// can (audit.Log.WriteAll): the reaper ends leases in batches.
func (b *Broker) auditAll(evs []audit.Event, cs []Caller) {
	if b.opts.Audit == nil || len(evs) == 0 {
		return
	}
	batch, ok := b.opts.Audit.(interface{ WriteAll([]audit.Event) error })
	if !ok || len(evs) == 1 {
		for i, ev := range evs {
			b.audit(ev, cs[i])
		}
		return
	}
	for i := range evs {
		evs[i] = b.auditEvent(evs[i], cs[i])
	}
	if err := batch.WriteAll(evs); err != nil {
		b.log.Warn("audit write failed", "event", evs[0].Event, "events", len(evs), "err", err)
	}
}

// auditEvent stamps ev and fills in its caller.
func (b *Broker) auditEvent(ev audit.Event, c Caller) audit.Event {
	ev.Time = b.now().UTC()
	if c.PID > 0 && !c.recorded && (c.Exe == "" || c.Cwd == "") {
		b.mu.Lock()
		info, ok := b.procs[c.PID]
		b.mu.Unlock()
		if ok {
			c.Exe, c.Cwd = or(c.Exe, info.exe), or(c.Cwd, info.cwd)
		} else if b.pids == nil || !b.pids.watching(c.PID) {
			c.Exe, c.Cwd = or(c.Exe, b.opts.Procs.Exe(c.PID)), or(c.Cwd, b.opts.Procs.Cwd(c.PID))
		}
	}
	ev.UID, ev.PID, ev.Exe, ev.Cwd = c.UID, c.PID, c.Exe, c.Cwd
	return ev
}

// sortLeases orders leases by grant time, then id.
func sortLeases(ls []Lease) {
	sort.Slice(ls, func(i, j int) bool {
		if !ls[i].GrantedAt.Equal(ls[j].GrantedAt) {
			return ls[i].GrantedAt.Before(ls[j].GrantedAt)
		}
		return ls[i].ID < ls[j].ID
	})
}

// rootCause keeps the part of a keychain failure that says why, without the
// layers that restate "no keychain is available".
func rootCause(err error) string {
	s := err.Error()
	const marker = "no keychain is available: "
	if i := strings.LastIndex(s, marker); i >= 0 {
		return s[i+len(marker):]
	}
	return s
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
