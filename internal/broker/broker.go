// Package broker owns profiles, token choice and leases. It does no I/O of its
// own: the token store (Store), profile metadata (ProfileStore), processes
// (Procs, ExitWatcher), the Hub, the audit log and the clock come in through
// Options, filled by the daemon (keystore, profilefile, osproc, hub, audit),
// so its rules are tested in-process with fakes. deps_test.go keeps it so.
//
// Files by concern: broker.go (options, settings, the Broker), profiles.go
// (profile metadata and its changes), tokencache.go (the store read once,
// shared by concurrent callers), hublimit.go (the Hub's 429 windows),
// choose.go (which token a request gets), lease.go (leases, their
// processes and their end), persist.go (leases across a restart), lock.go
// (the vault's lock and migration), oauth.go and weblogin.go (OAuth).
package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hfbroker/hfbroker/internal/audit"
	"github.com/hfbroker/hfbroker/internal/hubapi"
	"github.com/hfbroker/hfbroker/internal/secret"
	"github.com/hfbroker/hfbroker/internal/storeapi"
)

// Store keeps tokens: one of keystore's backends (storeapi.Store).
type Store = storeapi.Store

// Hub answers whoami-v2 for a token.
type Hub interface {
	Whoami(ctx context.Context, endpoint string, tok secret.Token) (*hubapi.Whoami, error)
}

// AuditSink receives audit events.
type AuditSink interface {
	Write(audit.Event) error
}

// Options configure a Broker.
type Options struct {
	Store    Store
	Hub      Hub
	Audit    AuditSink    // nil: no audit
	Profiles ProfileStore // profile metadata; required
	Procs    Procs        // nil: no process is known (a lease naming one is refused)
	// Exits, when set, says when leased processes exit (the broker closes
	// it when Run returns); without it, leased processes are polled.
	Exits ExitWatcher
	// WallAlarm, when set, wakes the reaper at the next lease's wall-clock
	// end even across a suspend (wallclock.Alarm, a timerfd, on Linux), so
	// the reaper sleeps until that deadline however far away it is.
	// Without one it looks at the wall clock every maxReapSleep. The
	// broker closes it when Run returns.
	WallAlarm WallAlarm
	Now       func() time.Time // nil: time.Now
	Logger    *slog.Logger     // nil: discard

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
	// login did not record one ("" means hubapi.DefaultOAuthClientID).
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
	profiles  map[string]*Profile // profiles.go
	def       string
	tokens    map[string]secret.Token // read-through cache of the store (tokencache.go)
	reads     map[string]*tokenRead   // store reads in flight, by profile
	leases    map[string]*liveLease
	sources   map[leaseSource]*leaseSource // shared by the leases of a profile, guarded by mu
	repoInfos map[string]repoInfoEntry

	exitMu   sync.Mutex    // serialises processesExited
	ended    endedLeases   // why recent leases ended, guarded by mu
	reapWake chan struct{} // wakes Run when a lease is due before reapAt
	alarmAt  time.Time     // what the WallAlarm is set for; zero: disarmed
	reapAt   time.Time     // when Run will next look at leases; zero: never, guarded by mu
	leaseMax int           // the most leases held since the map was last made anew, guarded by mu
	due      reapQueue     // the leases by deadline, and those to poll (reapqueue.go), guarded by mu
	reapNext time.Time     // Reap's last run plus reapGap: Run does not reap again before, guarded by mu

	exits   ExitWatcher        // nil: poll only
	watchMu sync.Mutex         // guards watches, and orders the watcher's Add and Remove
	watches map[int]*procWatch // processes watched through exits (watches.go)

	store      Store // guarded by mu; replaced by Migrate
	unlockFail int   // consecutive wrong passphrases, guarded by mu
	gen        int   // bumped when cached tokens are forgotten, guarded by mu

	leaseKey      []byte // LeaseKey's key, read from leaseKeyStore; guarded by mu
	leaseKeyStore Store
	hubWait       hubLimits  // the Hub's 429 windows (hublimit.go)
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
		leases:     map[string]*liveLease{},
		sources:    map[leaseSource]*leaseSource{},
		repoInfos:  map[string]repoInfoEntry{},
		watches:    map[int]*procWatch{},
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
		b.opts.Procs = noProcs{}
	}
	b.Configure(Settings{DefaultTTL: opts.DefaultTTL, MaxTTL: opts.MaxTTL, GitTTL: opts.GitTTL,
		Routes: opts.Routes, GitPrefer: opts.GitPrefer, MaxUntilExit: opts.MaxUntilExit})
	if b.opts.ReapInterval <= 0 {
		b.opts.ReapInterval = 200 * time.Millisecond
	}
	b.exits = opts.Exits
	profiles, def, err := opts.Profiles.Load()
	if err != nil {
		return nil, err
	}
	b.profiles, b.def = usableProfiles(profiles, def)
	return b, nil
}

// StoreKind names the token store backend.
func (b *Broker) StoreKind() string { return b.currentStore().Kind() }

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
	if c.PID > 0 && !c.recorded && (c.Exe == "" || c.Cwd == "") && c.Process != nil {
		// The connection's process, as its connection read it once: not
		// whatever holds the pid now.
		if _, exe, cwd, err := c.Process.Info(); err == nil {
			c.Exe, c.Cwd = or(c.Exe, exe), or(c.Cwd, cwd)
		}
	} else if c.PID > 0 && !c.recorded && (c.Exe == "" || c.Cwd == "") {
		if info, ok := b.watchedInfo(c.PID); ok {
			c.Exe, c.Cwd = or(c.Exe, info.exe), or(c.Cwd, info.cwd)
		} else if b.exits == nil || !b.exits.Watching(c.PID) {
			c.Exe, c.Cwd = or(c.Exe, b.opts.Procs.Exe(c.PID)), or(c.Cwd, b.opts.Procs.Cwd(c.PID))
		}
	}
	ev.UID, ev.PID, ev.Exe, ev.Cwd = c.UID, c.PID, c.Exe, c.Cwd
	return ev
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
