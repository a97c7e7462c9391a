package broker

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/hfbroker/hfbroker/internal/audit"
	"github.com/hfbroker/hfbroker/internal/hubapi"
	"github.com/hfbroker/hfbroker/internal/secret"
	"github.com/hfbroker/hfbroker/internal/storeapi"
)

// Profile is a stored token's metadata. It never holds the token: the file it
// is persisted to (ProfileStore) is readable by anything running as the user.
type Profile struct {
	Name        string    `json:"name"`
	Endpoint    string    `json:"endpoint"`
	AddedAt     time.Time `json:"added_at"`
	Fingerprint string    `json:"fingerprint"`
	// Whoami is the Hub's last answer about the token (nil when never verified).
	Whoami *hubapi.Whoami `json:"whoami,omitempty"`
	// VerifiedAt is when Whoami was fetched.
	VerifiedAt time.Time `json:"verified_at,omitzero"`
	// Stale marks Whoami as needing a refresh before it is trusted again, e.g.
	// after git erased the credential following a 401.
	Stale bool `json:"stale,omitempty"`
	// Rejected records that the Hub last answered 401 for this token: it was
	// revoked or deleted. A successful refresh clears it.
	Rejected bool `json:"rejected,omitempty"`
	// OAuth: the store holds an access and a refresh token (login --web).
	OAuth bool `json:"oauth,omitempty"`
	// ExpiresAt is when the current token expires (OAuth tokens, expiring
	// tokens); zero when it does not.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// NeedsLogin: the Hub refused the refresh token; only a new
	// 'hfbroker login --web' revives the profile.
	NeedsLogin bool `json:"needs_login,omitempty"`
}

// User is the Hub user name of the token, "" when unknown.
func (p *Profile) User() string {
	if p.Whoami == nil {
		return ""
	}
	return p.Whoami.Name
}

// TokenRole is the token's role (read, write, fineGrained), "" when unknown.
func (p *Profile) TokenRole() string {
	if p.Whoami == nil || p.Whoami.Auth.AccessToken == nil {
		return ""
	}
	return p.Whoami.Auth.AccessToken.Role
}

// DisplayName is the token's name in the Hub's settings, "" when unknown.
func (p *Profile) DisplayName() string {
	if p.Whoami == nil || p.Whoami.Auth.AccessToken == nil {
		return ""
	}
	return p.Whoami.Auth.AccessToken.DisplayName
}

// ProfileStore keeps profile metadata (never a token) between daemon runs.
// The daemon gives the broker a file (profilefile.Store); tests use
// MemoryProfiles. The broker calls it with its mutex held, and owns what
// Load returns.
type ProfileStore interface {
	// Load returns the profiles kept and the default's name; a store that
	// holds nothing yet returns none.
	Load() (profiles map[string]*Profile, def string, err error)
	// Save replaces what is kept with profiles and def, all or nothing.
	Save(profiles map[string]*Profile, def string) error
}

// MemoryProfiles is a ProfileStore in memory, for tests: what it keeps
// outlives the broker that saved it, as a file would.
type MemoryProfiles struct {
	mu       sync.Mutex
	profiles map[string]Profile
	def      string
}

// Load returns copies of what was saved.
func (m *MemoryProfiles) Load() (map[string]*Profile, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]*Profile, len(m.profiles))
	for name, p := range m.profiles {
		out[name] = &p
	}
	return out, m.def, nil
}

// Save keeps copies of profiles and def.
func (m *MemoryProfiles) Save(profiles map[string]*Profile, def string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.profiles = make(map[string]Profile, len(profiles))
	for name, p := range profiles {
		m.profiles[name] = *p
	}
	m.def = def
	return nil
}

// usableProfiles keeps the loaded profiles a broker can serve: those with a
// valid name, keyed by it, and the default only if it is one of them.
func usableProfiles(loaded map[string]*Profile, def string) (map[string]*Profile, string) {
	out := make(map[string]*Profile, len(loaded))
	for _, p := range loaded {
		if p == nil || CheckName(p.Name) != nil {
			continue
		}
		out[p.Name] = p
	}
	if _, ok := out[def]; !ok {
		def = ""
	}
	return out, def
}

func sortedProfiles(m map[string]*Profile) []*Profile {
	out := make([]*Profile, 0, len(m))
	for _, p := range m {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

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
	// importedFrom is the refresh token the request came with when
	// refreshBeforeAdd replaced it (see oauthState.imported).
	importedFrom secret.Token
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
	if req.Refresh != "" {
		// The same login stored twice would be two profiles rotating one
		// refresh token; and a plaintext copy of a login held here (import
		// says so) may go, when a copy of another login must not.
		if p, held := b.oauthHolder(ctx, req.Token, req.Refresh); held {
			return p, false, ErrAlreadyStored
		}
	}
	if req.Refresh != "" && (req.ExpiresAt.IsZero() || !b.now().Before(req.ExpiresAt)) {
		// An imported login whose access token has expired: refresh it
		// first, so what is stored works. The Hub rotates the refresh token
		// then, so a locked vault, which would refuse the new pair, is
		// refused before the Hub is asked.
		if l, ok := b.currentStore().(Lockable); ok && l.Locked() {
			return Profile{}, false, b.storeError(storeapi.ErrLocked, req.Name, "store the token")
		}
		if err := b.refreshBeforeAdd(ctx, &req); err != nil {
			return Profile{}, false, err
		}
	}
	var who *hubapi.Whoami
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
	var ended []*liveLease
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
		ended = b.takeLeasesLocked(func(l *liveLease) bool { return l.src.Profile == name })
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
	b.importStored(req)
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
	if err := b.currentStore().Delete(ctx, name); err != nil && !errors.Is(err, storeapi.ErrNotFound) {
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
	ended := b.takeLeasesLocked(func(l *liveLease) bool { return l.src.Profile == name })
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
		if errors.Is(err, hubapi.ErrInvalidToken) {
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
