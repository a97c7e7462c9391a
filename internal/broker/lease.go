package broker

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/hfbroker/hfbroker/internal/access"
	"github.com/hfbroker/hfbroker/internal/audit"
	"github.com/hfbroker/hfbroker/internal/hubapi"
	"github.com/hfbroker/hfbroker/internal/secret"
)

// Access is what a lease lets its holder do with a repository: the access
// model's own type. The zero value means "not said": read, except that git
// then prefers a token that can push.
type Access = access.Access

// The two access levels.
const (
	AccessRead  = access.Read
	AccessWrite = access.Write
)

// accessText is an Access for the audit log: "" when not said.
func accessText(a Access) string {
	if a == 0 {
		return ""
	}
	return a.String()
}

// Purpose says how a lease's token will be used.
type Purpose string

const (
	PurposeExec  Purpose = "exec"
	PurposeGit   Purpose = "git"
	PurposeToken Purpose = "token"
	PurposeProxy Purpose = "proxy"
)

// Caller is the process on the other end of the socket, as the kernel
// reported it at connect. PID 0 means unknown (in-process tests).
type Caller struct {
	UID int
	PID int
	Exe string
	Cwd string
	// Process is the process that connected, as its connection pinned it
	// (the daemon's osproc.Peer); nil when there is none (in-process
	// callers, tests). With it the broker never reads /proc for PID
	// itself: what it reads there could be another process's once PID has
	// been reused, and a kept connection has its process read once.
	Process CallerProcess
	// recorded: Exe and Cwd are what was known when the lease was granted;
	// the process may be gone and its pid reused, so /proc is not asked.
	recorded bool
}

// CallerProcess is the process at the other end of a connection, read once
// per connection rather than once per call (osproc.Peer).
type CallerProcess interface {
	// Info returns the start time, executable and directory of the process
	// that connected, as first read; an error once it is known to have
	// exited.
	Info() (start uint64, exe, cwd string, err error)
	// Alive reports whether the process that connected still runs (not
	// merely some process with its pid).
	Alive() bool
}

// LeaseRequest asks for a token.
type LeaseRequest struct {
	Profile  string
	Repo     *hubapi.RepoRef
	Access   Access
	Purpose  Purpose
	TTL      time.Duration
	Endpoint string
	// PID is the process the lease is for when it is not the caller: the
	// caller's parent (git, for the credential helper) or its child
	// (a supervised command). Zero means the caller.
	PID    int
	Caller Caller
	// UntilExit asks for a lease without a TTL: it ends with its processes,
	// within Options.MaxUntilExit.
	UntilExit bool
	// Label says what the lease is for, for people reading the lease list
	// (a Jupyter kernel's name and connection file).
	Label string
	// Repos are the repos (or "ns/*" patterns) the lease is for, each with
	// its access; Repo/Access is the older single-repo form, and both may
	// be given. Lease folds them: one plain repo ends up in Repo/Access.
	Repos []RepoGrant
	// NoPublic: a PROXY lease does not read public repos outside Repos.
	NoPublic bool
	// Forward is the restricted socket's forward the request came through
	// (forward.go); empty on the main socket.
	Forward Forward
}

// Lease is a granted lease. It never holds the token.
type Lease struct {
	ID          string
	Profile     string
	Fingerprint string
	Endpoint    string
	User        string
	PID         int
	Exe         string
	Repo        *hubapi.RepoRef
	Access      Access
	Purpose     Purpose
	GrantedAt   time.Time
	ExpiresAt   time.Time

	UID int

	// Follow says how the lease's processes are followed; Processes are
	// the ones it lives with now (Leases and Renew fill them in).
	Follow    Follow
	Processes []int
	// UntilExit: the lease has no wall-clock limit of its own; it ends with
	// its processes (within the configured maximum).
	UntilExit bool
	// Label is the request's label.
	Label string
	// Repos are every repo of the lease with its access (Repo/Access is
	// the first, for older clients); empty for a lease for any repo.
	Repos []RepoGrant
	// Public: a PROXY lease that may also read public repos (and gated ones
	// its token was granted) outside Repos.
	Public bool
	// TokenExpiresAt is when the lease's token expires (OAuth), zero when
	// it does not; ShortenedToToken says the lease was cut to end then.
	TokenExpiresAt   time.Time
	ShortenedToToken bool
	// Forward is the forward the lease came through; zero on the main socket.
	Forward Forward
}

// liveLease is a live lease as the broker keeps it, guarded by Broker.mu;
// Lease is what callers see (view, snapshot). With tens of thousands of
// short leases live under load, the daemon's peak memory follows this
// record's size (issue 16), so it holds each thing once: what every lease of
// a profile shares (profile, fingerprint, endpoint, user) behind one shared
// pointer, what few leases have (a label, repos, a forward, an OAuth
// token's expiry) behind another, and ExpiresAt as its deadline.
type liveLease struct {
	ID       string
	src      *leaseSource
	deadline time.Time // ExpiresAt with its monotonic reading kept
	granted  time.Time // GrantedAt
	PID      int
	UID      int
	Exe      string
	cwd      string // the process's directory, for the audit log
	Repo     *hubapi.RepoRef
	members  []procRef  // the processes it lives with now
	jobStart uint64     // the first process's start time: its job's processes start later
	more     *leaseMore // nil when the lease has none of it

	Access           Access
	UntilExit        bool
	Public           bool
	ShortenedToToken bool
	watched          bool  // the lease ends when its processes have exited
	inProcs          bool  // in reapQueue.withProcs, guarded by Broker.mu
	purpose          uint8 // Purpose, as its index in purposes (setPurpose)
	follow           uint8 // Follow, as its index in follows
}

// purposes and follows are the values a liveLease keeps as a byte; another
// value (a Purpose no client sends) goes in leaseMore.
var (
	purposes = [...]Purpose{"", PurposeExec, PurposeGit, PurposeToken, PurposeProxy}
	follows  = [...]Follow{"", FollowTree, FollowProcess, FollowTTL}
)

// otherValue marks a Purpose or Follow kept in leaseMore.
const otherValue = 0xff

func valueCode[T ~string](known []T, v T) uint8 {
	for i, k := range known {
		if k == v {
			return uint8(i)
		}
	}
	return otherValue
}

func (l *liveLease) setPurpose(p Purpose) {
	if l.purpose = valueCode(purposes[:], p); l.purpose == otherValue {
		l.extra().purpose = p
	}
}

func (l *liveLease) setFollow(f Follow) {
	if l.follow = valueCode(follows[:], f); l.follow == otherValue {
		l.extra().follow = f
	}
}

// Purpose is the lease's Purpose.
func (l *liveLease) Purpose() Purpose {
	if l.purpose == otherValue {
		return l.more.purpose
	}
	return purposes[l.purpose]
}

// Follow is how the lease follows its processes.
func (l *liveLease) Follow() Follow {
	if l.follow == otherValue {
		return l.more.follow
	}
	return follows[l.follow]
}

// leaseSource is what every lease granted from a profile as it is now
// shares; the broker keeps one of each (Broker.sources).
type leaseSource struct {
	Profile, Fingerprint, Endpoint, User string
}

// leaseMore holds what only some leases have.
type leaseMore struct {
	Label          string
	Repos          []RepoGrant
	Forward        Forward
	TokenExpiresAt time.Time
	// expiresAt is ExpiresAt when it is not the deadline's wall clock
	// reading (a restored lease whose saved end is out of a
	// time.Duration's reach); zero otherwise.
	expiresAt time.Time
	// purpose and follow hold a value purposes or follows does not.
	purpose Purpose
	follow  Follow
}

// extra returns l's leaseMore, made when it has none.
func (l *liveLease) extra() *leaseMore {
	if l.more == nil {
		l.more = &leaseMore{}
	}
	return l.more
}

// moreOrNone is l.more, or an empty leaseMore to read from.
func (l *liveLease) moreOrNone() *leaseMore {
	if l.more == nil {
		return &noMore
	}
	return l.more
}

var noMore leaseMore

// expiresAt is the lease's ExpiresAt.
func (l *liveLease) expiresAt() time.Time {
	if l.more != nil && !l.more.expiresAt.IsZero() {
		return l.more.expiresAt
	}
	return l.deadline.UTC().Round(0)
}

// view is l as callers see it, without its processes; the broker's mutex
// must be held.
func (l *liveLease) view() Lease {
	m := l.moreOrNone()
	return Lease{
		ID:          l.ID,
		Profile:     l.src.Profile,
		Fingerprint: l.src.Fingerprint,
		Endpoint:    l.src.Endpoint,
		User:        l.src.User,
		PID:         l.PID,
		Exe:         l.Exe,
		Repo:        l.Repo,
		Access:      l.Access,
		Purpose:     l.Purpose(),
		GrantedAt:   l.granted,
		ExpiresAt:   l.expiresAt(),
		UID:         l.UID,
		Follow:      l.Follow(),
		UntilExit:   l.UntilExit,
		Label:       m.Label,
		Repos:       m.Repos,
		Public:      l.Public,
		Forward:     m.Forward,

		TokenExpiresAt:   m.TokenExpiresAt,
		ShortenedToToken: l.ShortenedToToken,
	}
}

// source returns the broker's leaseSource equal to s, so that the leases of
// a profile share one; the broker's mutex must be held.
func (b *Broker) sourceLocked(s leaseSource) *leaseSource {
	if p, ok := b.sources[s]; ok {
		return p
	}
	if len(b.sources) >= maxSources {
		// Profiles changed many times over the daemon's life: the leases
		// keep theirs; new ones share afresh.
		clear(b.sources)
	}
	p := &s
	b.sources[s] = p
	return p
}

// maxSources bounds Broker.sources.
const maxSources = 256

// Follow is how a lease follows the processes it lives with.
type Follow string

const (
	// FollowTree: the process that took the lease, then every process
	// that carries the lease's id in its environment (LeaseEnv), which
	// every descendant inherits, through double forks, setsid and nohup.
	FollowTree Follow = "tree"
	// FollowProcess: the process that took the lease, alone.
	FollowProcess Follow = "process"
	// FollowTTL: no process; the lease lives out its TTL.
	FollowTTL Follow = "ttl"
)

// LeaseEnv is the environment variable that carries a lease's id into the
// processes of its job (runenv.EnvLease: exec sets it in the child).
const LeaseEnv = "HFBROKER_LEASE"

// MaxLabel bounds a lease's label.
const MaxLabel = 256

// procRef is one process, its start time guarding against pid reuse.
type procRef struct {
	pid   int
	start uint64
	// held: the membership is counted on the process's watch
	// (watches.go), and gives it back when it goes.
	held bool
}

// Grant is a lease with its token.
type Grant struct {
	Lease Lease
	Token secret.Token
}

// Lease chooses a token for req and records a lease for it.
func (b *Broker) Lease(ctx context.Context, req LeaseRequest) (Grant, error) {
	ttl, err := b.leaseTTL(req)
	if err != nil {
		return Grant{}, err
	}
	if len(req.Label) > MaxLabel || strings.ContainsFunc(req.Label, unicode.IsControl) {
		return Grant{}, errorf(KindInvalid, "", "a lease label must be one line of at most %d bytes", MaxLabel)
	}
	if err := normalizeRepos(&req); err != nil {
		return Grant{}, err
	}
	if (req.Repo != nil || len(req.Repos) > 0) && req.Profile == "" {
		b.refreshStale(ctx)
	}
	p, err := b.choose(ctx, req)
	if err != nil {
		b.audit(audit.Event{Event: "lease.denied", Profile: req.Profile, Repo: requestRepos(req),
			Access: accessText(req.Access), Purpose: string(req.Purpose), Reason: err.Error(), Forward: req.Forward.String()}, req.Caller)
		return Grant{}, err
	}
	b.mu.Lock()
	gen := b.gen
	b.mu.Unlock()
	acc, err := b.accessToken(ctx, p.Name)
	if err != nil {
		if KindOf(err) == KindAccessDenied {
			b.audit(audit.Event{Event: "lease.denied", Profile: p.Name, Repo: repoString(req.Repo),
				Access: accessText(req.Access), Purpose: string(req.Purpose), Reason: err.Error()}, req.Caller)
		}
		return Grant{}, err
	}
	tok := acc.tok
	ref, exe, cwd, err := b.watchTarget(req)
	if err != nil {
		return Grant{}, err
	}
	pid, start := ref.pid, ref.start
	// watchTarget may have counted the lease on its process's watch: a
	// grant that fails from here gives it back.
	held := []procRef{ref}
	if req.UntilExit && (pid == 0 || req.Purpose == PurposeGit) {
		return Grant{}, errorf(KindInvalid, "pass a TTL such as --ttl 1h",
			"a lease without a TTL needs a process to end with")
	}
	follow := FollowTTL
	if pid != 0 && req.Purpose != PurposeGit {
		follow = FollowProcess
		if (req.Purpose == PurposeExec || req.Purpose == PurposeProxy) && b.opts.Procs.CanFollow() {
			follow = FollowTree
		}
	}
	now := b.now()
	// A lease never hands out a token that dies before it ends: an OAuth
	// access token is refreshed when due (accessToken), and a lease longer
	// than what is left of it ends with it. A proxy lease is the exception:
	// the proxy asks for the current token on every request.
	var shortened bool
	if !acc.expiresAt.IsZero() && req.Purpose != PurposeProxy && now.Add(ttl).After(acc.expiresAt) {
		ttl, shortened = max(acc.expiresAt.Sub(now), time.Second), true
	}
	l := &liveLease{
		ID:        newID("l-"),
		PID:       pid,
		Exe:       exe,
		UID:       req.Caller.UID,
		cwd:       cwd,
		watched:   follow != FollowTTL,
		UntilExit: req.UntilExit,
		Repo:      req.Repo,
		Access:    req.Access,
		Public:    req.Purpose == PurposeProxy && !req.NoPublic,
		granted:   now.UTC().Round(0),
		deadline:  now.Add(ttl),

		ShortenedToToken: shortened,
	}
	l.setPurpose(req.Purpose)
	l.setFollow(follow)
	if req.Label != "" {
		l.extra().Label = req.Label
	}
	if gs := req.repoGrants(); len(gs) > 0 {
		l.extra().Repos = gs
		if l.Repo == nil {
			r := gs[0].Repo // older clients see the first
			l.Repo, l.Access = &r, gs[0].Access
		}
	}
	if req.Forward != (Forward{}) {
		l.extra().Forward = req.Forward
	}
	if !acc.expiresAt.IsZero() {
		l.extra().TokenExpiresAt = acc.expiresAt
	}
	if l.watched {
		l.members, l.jobStart = []procRef{ref}, start
	}
	src := leaseSource{Profile: p.Name, Fingerprint: p.Fingerprint, Endpoint: p.Endpoint, User: p.User()}
	b.mu.Lock()
	if cur, ok := b.profiles[p.Name]; !ok || cur.Fingerprint != p.Fingerprint || cur.Fingerprint != acc.fp {
		b.mu.Unlock()
		b.releaseWatches(held)
		return Grant{}, errorf(KindNotFound, "", "profile %q changed while leasing; try again", p.Name)
	}
	if gen != b.gen {
		// `hfbroker lock` (or a migration) ran while this lease was being
		// granted: it must not survive the lock.
		b.mu.Unlock()
		b.releaseWatches(held)
		return Grant{}, &Error{Kind: KindLocked, Msg: "locked while the lease was being granted; try again"}
	}
	l.src = b.sourceLocked(src)
	b.leases[l.ID] = l
	b.leaseMax = max(b.leaseMax, len(b.leases))
	b.wakeReaperLocked(l, now)
	// A copy taken under the lock: the pidfd reader may already be taking
	// a fast job's exited processes out of l.members.
	granted := l.snapshot()
	b.mu.Unlock()
	if granted.Persisted() {
		b.leasesChanged()
	}

	b.audit(audit.Event{Event: "lease.granted", LeaseID: granted.ID, Profile: granted.Profile, Fingerprint: granted.Fingerprint,
		Repo: leaseRepos(&granted), Access: accessText(granted.Access), Purpose: string(granted.Purpose), Forward: granted.Forward.String(), Label: granted.Label}, withPID(req.Caller, pid, exe, cwd))
	return Grant{Lease: granted, Token: tok}, nil
}

// withPID is the caller an audit line names: the leased process when it is
// another, with what watchTarget read of it.
func withPID(c Caller, pid int, exe, cwd string) Caller {
	switch {
	case pid != 0 && pid != c.PID:
		c.PID, c.Exe = pid, exe
	case pid != 0:
		c.Exe, c.Cwd = or(c.Exe, exe), or(c.Cwd, cwd)
	}
	return c
}

func (b *Broker) leaseTTL(req LeaseRequest) (time.Duration, error) {
	if req.UntilExit {
		if req.TTL != 0 {
			return 0, errorf(KindInvalid, "pass either --ttl D or --until-exit", "a lease until exit takes no TTL")
		}
		return b.cfg().MaxUntilExit, nil
	}
	ttl := req.TTL
	if ttl < 0 {
		return 0, errorf(KindInvalid, "pass a positive duration such as 15m", "lease TTL %s is negative", ttl)
	}
	cfg := b.cfg()
	if ttl == 0 {
		ttl = cfg.DefaultTTL
		if req.Purpose == PurposeGit {
			ttl = cfg.GitTTL
		}
	}
	if ttl > cfg.MaxTTL {
		return 0, errorf(KindInvalid, fmt.Sprintf("ask for at most %s, or raise lease.max_ttl in config.toml", cfg.MaxTTL),
			"lease TTL %s is longer than the maximum %s", ttl, cfg.MaxTTL)
	}
	return ttl, nil
}

// GitTTL is the lifetime of a git lease (lease.git_ttl): a git lease that
// the daemon turns into a proxy lease (through a forward) keeps it.
func (b *Broker) GitTTL() time.Duration { return b.cfg().GitTTL }

// watchTarget decides which process the lease lives with. A GIT lease
// lives out its TTL: the credential helper exits as soon as it has answered,
// and git uses the password after that.
func (b *Broker) watchTarget(req LeaseRequest) (ref procRef, exe, cwd string, err error) {
	pid := req.Caller.PID
	if req.PID != 0 && req.PID != req.Caller.PID {
		if req.Caller.PID == 0 {
			return procRef{}, "", "", errorf(KindInvalid, "", "a lease for another process needs a caller the kernel can identify")
		}
		parent, perr := b.opts.Procs.Parent(req.Caller.PID)
		child, cerr := b.opts.Procs.Parent(req.PID)
		related := (perr == nil && parent == req.PID) || (cerr == nil && child == req.Caller.PID)
		if !related {
			return procRef{}, "", "", errorf(KindInvalid, "", "pid %d is neither the caller's parent nor its child", req.PID)
		}
		pid = req.PID
	}
	if pid == 0 {
		return procRef{}, "", "", nil
	}
	// git's credential helper exits as soon as it has answered: watching
	// it would only wake the daemon for that exit, in the middle of git's
	// operation.
	watch := req.Purpose != PurposeGit
	var info procInfo
	var held bool
	if pid == req.Caller.PID && req.Caller.Process != nil {
		info, held, err = b.callerProc(pid, req.Caller.Process, watch)
	} else {
		info, held, err = b.proc(pid, watch)
	}
	if err != nil {
		return procRef{}, "", "", errorf(KindInvalid, "", "process %d has already exited", pid)
	}
	return procRef{pid: pid, start: info.start, held: held}, info.exe, info.cwd, nil
}

// Leases returns the live leases, oldest first.
func (b *Broker) Leases() []Lease {
	b.mu.Lock()
	out := make([]Lease, 0, len(b.leases))
	for _, l := range b.leases {
		out = append(out, l.snapshot())
	}
	b.mu.Unlock()
	sortLeases(out)
	return out
}

// snapshot copies a live lease for a caller, with its processes; the
// broker's mutex must be held.
func (l *liveLease) snapshot() Lease {
	c := l.view()
	c.Processes = make([]int, len(l.members))
	for i, m := range l.members {
		c.Processes[i] = m.pid
	}
	return c
}

// LeaseCount returns the number of live leases.
func (b *Broker) LeaseCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.leases)
}

// Revoke ends a live lease now.
func (b *Broker) Revoke(id string, caller Caller) error {
	b.mu.Lock()
	l, ok := b.leases[id]
	if ok {
		delete(b.leases, id)
	}
	b.mu.Unlock()
	if !ok {
		return errorf(KindNotFound, "run 'hfbroker leases' to see live leases", "no live lease %q", id)
	}
	b.endLeases([]*liveLease{l}, "revoked")
	return nil
}

// EndAll ends every lease (lock).
func (b *Broker) EndAll(cause string) int {
	b.mu.Lock()
	ended := b.takeLeasesLocked(func(*liveLease) bool { return true })
	b.mu.Unlock()
	b.endLeases(ended, cause)
	return len(ended)
}

// EndedCause says why a recently ended lease ended ("exit", "ttl",
// "revoked", "lock", …); false for a lease that is live or long forgotten.
func (b *Broker) EndedCause(id string) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if l, ok := b.leases[id]; ok && b.expired(l, b.now()) {
		return "ttl", true // past its TTL, the reaper not yet run
	}
	return b.ended.cause(id)
}

// Renew extends a live lease: to ttl from now, or, with ttl zero, by its
// own lifetime again (a lease until exit: to the maximum again). An ended
// lease cannot be renewed; the error says why it ended.
func (b *Broker) Renew(id string, ttl time.Duration, caller Caller) (Lease, error) {
	if ttl < 0 {
		return Lease{}, errorf(KindInvalid, "pass a positive duration such as 24h", "lease TTL %s is negative", ttl)
	}
	now := b.now()
	b.mu.Lock()
	l, ok := b.leases[id]
	if !ok || b.expired(l, now) {
		cause, known := b.ended.cause(id)
		b.mu.Unlock()
		if ok {
			cause, known = "ttl", true
		}
		if known {
			return Lease{}, errorf(KindAccessDenied, "start the job again for a new lease",
				"lease %s ended (%s); an ended lease cannot be renewed", id, endedText(cause))
		}
		return Lease{}, errorf(KindNotFound, "run 'hfbroker leases' to see live leases", "no live lease %q", id)
	}
	set := b.cfg()
	limit := set.MaxTTL
	switch {
	case l.UntilExit && ttl == 0:
		ttl, limit = set.MaxUntilExit, set.MaxUntilExit
	case ttl == 0:
		ttl = l.expiresAt().Sub(l.granted)
	}
	if ttl > limit {
		b.mu.Unlock()
		return Lease{}, errorf(KindInvalid, fmt.Sprintf("ask for at most %s, or raise lease.max_ttl in config.toml", limit),
			"lease TTL %s is longer than the maximum %s", ttl, limit)
	}
	if tokenEnd := l.moreOrNone().TokenExpiresAt; !tokenEnd.IsZero() && l.Purpose() != PurposeProxy && now.Add(ttl).After(tokenEnd) {
		// The child holds this very access token (issue 14): the lease
		// cannot outlive it.
		ttl, l.ShortenedToToken = max(tokenEnd.Sub(now), 0), true
	}
	l.deadline = now.Add(ttl)
	if l.more != nil {
		l.more.expiresAt = time.Time{} // ExpiresAt is the deadline's again
	}
	b.wakeReaperLocked(l, now)
	c := l.snapshot()
	b.mu.Unlock()
	if c.Persisted() {
		b.leasesChanged()
	}
	b.audit(audit.Event{Event: "lease.renewed", LeaseID: c.ID, Profile: c.Profile, Fingerprint: c.Fingerprint,
		Repo: leaseRepos(&c), Access: accessText(c.Access), Purpose: string(c.Purpose), Reason: "renewed for " + ttl.String()}, caller)
	return c, nil
}

// EndedText says a cause EndedCause returned in words: "its TTL passed".
func EndedText(cause string) string { return endedText(cause) }

// endedText says a cause in words.
func endedText(cause string) string {
	switch cause {
	case "exit":
		return "its processes exited"
	case "ttl":
		return "its TTL passed"
	case "revoked":
		return "it was revoked"
	case "lock":
		return "hfbroker was locked"
	case "profile-removed":
		return "its profile was removed"
	case CauseForwardClosed:
		return "the ssh forward it came through closed"
	}
	return cause
}

// endedLeases remembers why the last maxEnded leases ended, so that a
// renewal (or a lease token's next request) can say so. It holds ids and
// causes, never a token.
type endedLeases struct {
	causes map[string]string
	// order is a ring of ids, oldest at next once it is full: shifting a
	// full slice moved 64 KiB under the broker's mutex per ended lease.
	order []string
	next  int
}

const maxEnded = 4096

func (e *endedLeases) add(id, cause string) {
	if e.causes == nil {
		e.causes = map[string]string{}
	}
	if _, dup := e.causes[id]; !dup {
		if len(e.order) < maxEnded {
			e.order = append(e.order, id)
		} else {
			delete(e.causes, e.order[e.next])
			e.order[e.next] = id
			e.next = (e.next + 1) % maxEnded
		}
	}
	e.causes[id] = cause
}

func (e *endedLeases) cause(id string) (string, bool) {
	c, ok := e.causes[id]
	return c, ok
}

// LeaseValid reports whether a lease is still live; a proxy checks it on
// every request.
func (b *Broker) LeaseValid(id string) (Lease, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l, ok := b.leases[id]
	if !ok || b.expired(l, b.now()) {
		return Lease{}, false
	}
	return l.view(), true
}

func (b *Broker) takeLeasesLocked(match func(*liveLease) bool) []*liveLease {
	var out []*liveLease
	for id, l := range b.leases {
		if match(l) {
			out = append(out, l)
			delete(b.leases, id)
		}
	}
	return out
}

func (b *Broker) endLeases(ls []*liveLease, cause string) {
	if len(ls) > 0 {
		b.mu.Lock()
		for _, l := range ls {
			b.ended.add(l.ID, cause)
		}
		b.disarmReaperIfIdleLocked()
		b.mu.Unlock()
	}
	var members []procRef
	for _, l := range ls {
		// An ended lease is the caller's alone: it left Broker.leases
		// under the mutex, and nothing changes it after.
		members = append(members, l.members...)
	}
	b.releaseWatches(members)
	evs, cs := make([]audit.Event, 0, len(ls)), make([]Caller, 0, len(ls))
	for _, l := range ls {
		v := l.view()
		if b.opts.OnLeaseEnd != nil {
			b.opts.OnLeaseEnd(v)
		}
		evs = append(evs, audit.Event{Event: "lease.ended", LeaseID: v.ID, Profile: v.Profile, Fingerprint: v.Fingerprint,
			Repo: leaseRepos(&v), Access: accessText(v.Access), Purpose: string(v.Purpose), Cause: cause, Forward: v.Forward.String()})
		cs = append(cs, Caller{UID: l.UID, PID: l.PID, Exe: l.Exe, Cwd: l.cwd, recorded: true})
	}
	b.auditAll(evs, cs)
}

// expired applies both clocks: the monotonic reading (immune to wall clock
// steps) and the wall clock (which keeps running through a suspend, where
// Linux's monotonic clock stops), whichever ends the lease first.
func (b *Broker) expired(l *liveLease, now time.Time) bool {
	return !now.Before(l.deadline) || !now.Round(0).Before(l.deadline.Round(0))
}

// Reap ends leases past their TTL or whose processes have exited. Run calls
// it when a deadline comes, and to poll the processes no pidfd watches;
// tests call it directly. Each distinct process is looked at once, however
// many leases it holds.
func (b *Broker) Reap() {
	now := b.now()
	b.mu.Lock()
	b.reapNext = now.Add(reapGap)
	expired := b.due.takeExpired(b.leases, now)
	// Only leases with a process no pidfd watches are polled: the pidfd
	// says when a watched one exits (and /proc can mislead mid-execve).
	check := map[procRef]bool{}
	for l := range b.due.polled {
		if cur, live := b.leases[l.ID]; !live || cur != l || !b.needsPollLocked(l) {
			delete(b.due.polled, l)
			continue
		}
		for _, m := range l.members {
			if b.exits == nil || !b.exits.Watching(m.pid) {
				check[m] = true
			}
		}
	}
	b.mu.Unlock()
	b.endLeases(expired, "ttl")

	gone := map[procRef]bool{}
	for p := range check {
		if st, err := b.opts.Procs.StartTime(p.pid); err != nil || st != p.start {
			gone[p] = true
		}
	}
	if len(gone) > 0 {
		b.processesExited(func(p procRef) bool { return gone[p] })
	}
}

// heirs finds the processes that carry each of ids in their environment. A
// process caught in the middle of an execve has no environment to read
// for a moment (nohup, setsid and every shell's exec pass through one), so
// while a process of the job's age could not be read and some id has no
// heir, it looks again, a few times, a few milliseconds apart.
func (b *Broker) heirs(uid int, ids []string, since uint64) map[string][]procRef {
	out := map[string][]procRef{}
	if len(ids) == 0 {
		return out
	}
	for try := 0; ; try++ {
		found, unsure := b.opts.Procs.Carriers(uid, LeaseEnv, ids, since)
		for id, pids := range found {
			for _, pid := range pids {
				if slices.ContainsFunc(out[id], func(p procRef) bool { return p.pid == pid }) {
					continue // found on an earlier look
				}
				if info, held, err := b.proc(pid, true); err == nil {
					out[id] = append(out[id], procRef{pid, info.start, held})
				}
			}
		}
		if !unsure || len(out) == len(ids) || try == heirRetries {
			return out
		}
		time.Sleep(heirRetryDelay)
	}
}

// heirRetries and heirRetryDelay bound the second looks of heirs: an
// execve's unreadable moment lasts microseconds.
const (
	heirRetries    = 5
	heirRetryDelay = 10 * time.Millisecond
)

// processesExited takes the processes that exited out of every lease that
// lives with processes (reapQueue.withProcs), never walking the others. A
// lease left with none ends, unless it follows a tree and other processes
// still carry its id: it then lives on with those.
func (b *Broker) processesExited(gone func(procRef) bool) {
	b.exitMu.Lock() // one caller at a time: the pidfd reader, or Reap's poll
	defer b.exitMu.Unlock()
	b.mu.Lock()
	var orphans []*liveLease
	var ids []string
	b.due.filterProcs(b.leases, func(l *liveLease) bool {
		l.members = slices.DeleteFunc(l.members, gone)
		if len(l.members) > 0 {
			return true
		}
		orphans = append(orphans, l) // heirs push it back
		if l.Follow() == FollowTree {
			ids = append(ids, l.ID)
		}
		return false
	})
	uid, since := 0, uint64(0)
	for i, l := range orphans {
		if l.Follow() == FollowTree && (i == 0 || l.jobStart < since) {
			since = l.jobStart
		}
		uid = l.UID // every lease is the daemon's own uid's
	}
	b.mu.Unlock()
	if len(orphans) == 0 {
		return
	}
	heirs := b.heirs(uid, ids, since)
	b.mu.Lock()
	var ended []*liveLease
	for _, l := range orphans {
		if cur, live := b.leases[l.ID]; !live || cur != l || len(l.members) > 0 {
			continue
		}
		l.members = heirs[l.ID]
		delete(heirs, l.ID) // taken: the rest are given back below
		if len(l.members) == 0 {
			delete(b.leases, l.ID)
			ended = append(ended, l)
		} else {
			b.wakeReaperLocked(l, b.now()) // heirs no pidfd watches are polled
		}
	}
	b.mu.Unlock()
	for _, untaken := range heirs {
		b.releaseWatches(untaken)
	}
	b.endLeases(ended, "exit")
}

// disarmReaperIfIdleLocked wakes the reaper, which may be asleep until a
// lease's deadline, when the last live lease has just ended (its process
// exited, it was revoked, its profile removed): it then stops its timer,
// so an idle daemon is not woken once more for a lease that is gone (the
// wake-ups rows of docs/BENCHMARKS.md counted that one wake 30 s after
// every `hfbroker token`). The mutex must be held.
func (b *Broker) disarmReaperIfIdleLocked() {
	if len(b.leases) == 0 && !b.reapAt.IsZero() {
		select {
		case b.reapWake <- struct{}{}:
		default:
		}
	}
}

// maxReapSleep bounds how long the reaper sleeps while leases are live and
// no WallAlarm watches the wall clock. Go's timers run on the monotonic
// clock, which stops during a suspend; the wall clock does not, so a lease
// whose wall-clock end passed while the machine slept is still ended within
// this bound of the resume. With a WallAlarm the kernel wakes the reaper at
// the wall-clock end itself, and the bound is a day.
const (
	maxReapSleep        = 30 * time.Second
	maxAlarmedReapSleep = 24 * time.Hour
)

// Run reaps leases until ctx ends. It sleeps until the next lease's deadline
// (with no lease, until one is granted), and wakes at once when the kernel
// reports through a pidfd that a leased process exited: an idle daemon is
// never woken by a poll. Only leases on processes that no pidfd watches
// (kernels before 5.3, other systems) are polled, every ReapInterval.
func (b *Broker) Run(ctx context.Context) {
	if b.exits != nil {
		done := make(chan struct{})
		defer func() { b.exits.Interrupt(); <-done; b.exits.Close() }()
		go func() {
			defer close(done)
			for ctx.Err() == nil {
				if exited := b.exits.Wait(); len(exited) > 0 {
					dead := map[int]bool{}
					for _, pid := range exited {
						dead[pid] = true
					}
					b.forgetExited(exited)
					b.processesExited(func(p procRef) bool { return dead[p.pid] })
				}
			}
		}()
	}
	var alarm <-chan struct{}
	if b.opts.WallAlarm != nil {
		alarm = b.opts.WallAlarm.C()
		defer b.opts.WallAlarm.Close()
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for {
		sleep, ok, burstOver := b.armReaper()
		if ok {
			timer.Reset(sleep)
		} else {
			timer.Stop()
		}
		if burstOver && b.opts.OnIdle != nil {
			b.opts.OnIdle()
		}
		select {
		case <-ctx.Done():
			return
		case <-b.reapWake:
		case <-timer.C:
			b.Reap()
		case <-alarm:
			// It fired, or the clock was set: arm it anew either way.
			b.mu.Lock()
			b.alarmAt = time.Time{}
			b.mu.Unlock()
			b.Reap()
		}
	}
}

// armReaper decides how long the reaper may sleep: until the earliest
// deadline of a live lease, sooner when a lease needs polling, never longer
// than maxReapSleep; false when there is no lease. It records the time it
// will wake, so that a lease granted with an earlier deadline wakes it.
// burstOver says that the last of many leases has just ended.
func (b *Broker) armReaper() (sleep time.Duration, ok, burstOver bool) {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.leases) == 0 {
		b.reapAt = time.Time{}
		b.due.reset()
		b.setAlarmLocked(time.Time{})
		return 0, false, b.shrinkLocked()
	}
	next := now.Add(maxReapSleep)
	if d, ok := b.due.next(b.leases); ok {
		// The alarm is for an end the timer could sleep through (a
		// suspend stops the monotonic clock). An end within alarmHorizon
		// is the timer's alone: after a resume it has at most that long
		// to run, and a lease past its wall-clock end is refused at once
		// all the same (expired). Under load, with a lease ending every
		// few microseconds, an alarm for the next end fired at once and
		// woke the reaper for every end, past reapGap, with a
		// timerfd_settime each time (round 6e: 3,800 per 40,000 leases).
		if d.Round(0).Sub(now.Round(0)) > alarmHorizon && b.setAlarmLocked(d.Round(0)) {
			next = now.Add(maxAlarmedReapSleep)
		}
		next = minTime(next, d)
	}
	if len(b.due.polled) > 0 {
		next = minTime(next, now.Add(b.opts.ReapInterval))
	}
	next = maxTime(next, b.reapNext)
	b.reapAt = next
	return max(next.Sub(now), 0), true, false
}

// setAlarmLocked arms the WallAlarm for wall (zero: disarms it) and
// reports whether it watches the wall clock now.
func (b *Broker) setAlarmLocked(wall time.Time) bool {
	if b.opts.WallAlarm == nil {
		return false
	}
	// Disarming always asks the kernel: after a fire alarmAt is zero, yet
	// the alarm may still be set (a clock step cancels the read, not the
	// alarm).
	if !wall.IsZero() && wall.Equal(b.alarmAt) {
		return true
	}
	if err := b.opts.WallAlarm.Set(wall); err != nil {
		b.log.Warn("wall-clock alarm failed; the reaper reads the clock every 30 s", "err", err)
		b.alarmAt = time.Time{}
		return false
	}
	b.alarmAt = wall
	return !wall.IsZero()
}

// alarmHorizon is how near a lease's end may be for the reaper's timer
// alone to wake it, without the WallAlarm.
const alarmHorizon = time.Second

// shrinkAfter is how many leases make a burst worth giving memory back for.
const shrinkAfter = 1024

// shrinkLocked makes the lease map anew once it has emptied after a burst:
// a Go map never gives back its buckets, so the map that held 100,000 leases
// would keep their memory for the daemon's life. It reports whether it did.
func (b *Broker) shrinkLocked() bool {
	if b.leaseMax < shrinkAfter {
		return false
	}
	b.leases = map[string]*liveLease{}
	b.leaseMax = 0
	return true
}

// needsPollLocked reports whether l has a process that no pidfd watches.
func (b *Broker) needsPollLocked(l *liveLease) bool {
	for _, m := range l.members {
		if b.exits == nil || !b.exits.Watching(m.pid) {
			return true
		}
	}
	return false
}

// wakeReaperLocked queues l, a live lease just granted, renewed, restored or
// given heirs, for the reaper, and wakes the reaper when l is due before it
// would wake.
func (b *Broker) wakeReaperLocked(l *liveLease, now time.Time) {
	poll := b.needsPollLocked(l)
	b.due.push(l, poll, b.leases, now)
	due := l.deadline
	if poll {
		due = minTime(due, now.Add(b.opts.ReapInterval))
	}
	due = maxTime(due, b.reapNext)
	if b.reapAt.IsZero() || due.Before(b.reapAt) {
		b.reapAt = due // one wake per earlier deadline, not one per lease
		select {
		case b.reapWake <- struct{}{}:
		default:
		}
	}
}

// reapGap is the least time between two of Run's reaps. Under load (the
// lane serves tens of thousands of short leases a second) the next deadline
// is always microseconds away: the reaper ends the leases due within a gap
// together, with one audit write, rather than waking for each (issue 16).
// A lease past its TTL is refused at once all the same (expired); only its
// lease.ended line and OnLeaseEnd come up to reapGap late.
const reapGap = 5 * time.Millisecond

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// requestRepos names a request's repos for the audit log.
func requestRepos(req LeaseRequest) string {
	if gs := req.repoGrants(); len(gs) > 1 || (len(gs) == 1 && gs[0].Repo.IsPattern()) {
		return repoList(gs)
	}
	return repoString(req.Repo)
}

// leaseRepos names a lease's repos for the audit log: the repo alone, as
// before, when there is one.
func leaseRepos(l *Lease) string {
	if len(l.Repos) > 1 || (len(l.Repos) == 1 && l.Repos[0].Repo.IsPattern()) {
		return repoList(l.Repos)
	}
	return repoString(l.Repo)
}

func repoString(r *hubapi.RepoRef) string {
	if r == nil {
		return ""
	}
	return r.String()
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
