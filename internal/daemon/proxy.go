package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/hfbroker/hfbroker/internal/audit"
	"github.com/hfbroker/hfbroker/internal/broker"
	"github.com/hfbroker/hfbroker/internal/proxy"
	"github.com/hfbroker/hfbroker/internal/secret"
	"github.com/hfbroker/hfbroker/internal/server"
)

// proxyManager runs the local Hub proxy, started on the first PROXY lease,
// and keeps its table of lease tokens in step with the broker's leases.
type proxyManager struct {
	log   *slog.Logger
	audit audit.Sink
	// live reports whether a lease is still live; set once the broker exists.
	live func(id string) bool
	// endedCause says why a lease ended, in words; set with live.
	endedCause func(id string) (string, bool)
	// current returns the token a lease's requests carry now: an OAuth
	// access token changes under a long job as the broker refreshes it.
	current func(ctx context.Context, id string) (secret.Token, error)
	// procs gives the process the runtime's default Ps while a request is
	// forwarded (procs.go); nil in a daemon inside a test process.
	procs *procs

	mu   sync.Mutex
	book tokenBook // guarded by mu
	p    *proxy.Proxy
	srv  *http.Server
	url  string
	done chan struct{}

	leaseTable // lease tokens by keyed hash, and what outlives a restart (proxystate.go)
}

func newProxyManager(log *slog.Logger, sink audit.Sink) *proxyManager {
	return &proxyManager{log: log, audit: sink}
}

// Issue registers a lease with the proxy and returns the lease token the
// child gets instead of the real one, and the proxy's URL.
func (m *proxyManager) Issue(l broker.Lease, real secret.Token) (string, string, error) {
	url, err := m.start(0)
	if err != nil {
		return "", "", err
	}
	tok, err := proxy.NewLeaseToken()
	if err != nil {
		return "", "", err
	}
	m.mu.Lock()
	m.book.issued(l.ID, secret.Fingerprint(tok), l.Label)
	m.mu.Unlock()
	// add saves the lease state, the token's fingerprint with it.
	m.add(tok, proxyLease(l, real))
	if m.live != nil && !m.live(l.ID) {
		m.End(l) // it ended before it was booked: End found nothing to move
	}
	return tok, url, nil
}

// End makes a lease's token fail at once.
func (m *proxyManager) End(l broker.Lease) {
	if l.Purpose == broker.PurposeProxy {
		m.remove(l.ID)
		m.mu.Lock()
		m.book.ended(l.ID, time.Now())
		m.mu.Unlock()
	}
}

// TokenFingerprint implements server.LeaseTokenBook.
func (m *proxyManager) TokenFingerprint(leaseID string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.book.live[leaseID].fingerprint
}

// EndedTokens implements server.LeaseTokenBook.
func (m *proxyManager) EndedTokens() []server.EndedLeaseToken {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.book.prune(time.Now())
	out := make([]server.EndedLeaseToken, len(m.book.gone))
	for i, e := range m.book.gone {
		out[i] = server.EndedLeaseToken{Fingerprint: e.fingerprint, LeaseID: e.id, Label: e.label, EndedAt: e.at}
	}
	return out
}

// endedBook is what of the token book outlives a restart: the ended
// leases' tokens, oldest first.
func (m *proxyManager) endedBook() []savedEndedToken {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.book.prune(time.Now())
	out := make([]savedEndedToken, len(m.book.gone))
	for i, e := range m.book.gone {
		out[i] = savedEndedToken{LeaseID: e.id, Fingerprint: e.fingerprint, Label: e.label, EndedAt: e.at}
	}
	return out
}

// bookIssued books the tokens of restored proxy leases by fingerprint
// (fps, by lease id), so that their end is recorded like any other.
func (m *proxyManager) bookIssued(leases []broker.SavedLease, fps map[string]string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range leases {
		if fp := fps[l.ID]; fp != "" {
			m.book.issued(l.ID, fp, l.Label)
		}
	}
}

// restoreEndedBook takes back a previous daemon's ended lease tokens,
// before any lease of this one ends.
func (m *proxyManager) restoreEndedBook(saved []savedEndedToken) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range saved {
		if e.LeaseID == "" || e.Fingerprint == "" || len(e.Fingerprint) > 16 || e.EndedAt.IsZero() {
			continue
		}
		m.book.gone = append(m.book.gone, bookEntry{id: e.LeaseID, fingerprint: e.Fingerprint, label: e.Label, at: e.EndedAt})
	}
	if n := len(m.book.gone); n > maxEndedTokens {
		m.book.gone = m.book.gone[n-maxEndedTokens:]
	}
	m.book.prune(time.Now())
}

// tokenBook remembers the fingerprints of the lease tokens issued: of live
// leases, and of ended ones for endedTokenTTL (at most maxEndedTokens of
// them), so that scan can report a lease token in a notebook as ended and
// harmless. Never the tokens: a fingerprint is 32 bits of a SHA-256.
type tokenBook struct {
	live map[string]bookEntry // by lease id
	gone []bookEntry          // oldest first
}

type bookEntry struct {
	id, fingerprint, label string
	at                     time.Time
}

const (
	maxEndedTokens = 4096
	endedTokenTTL  = 30 * 24 * time.Hour
)

func (b *tokenBook) issued(id, fingerprint, label string) {
	if b.live == nil {
		b.live = map[string]bookEntry{}
	}
	b.live[id] = bookEntry{id: id, fingerprint: fingerprint, label: label}
}

func (b *tokenBook) ended(id string, now time.Time) {
	e, ok := b.live[id]
	if !ok {
		return
	}
	delete(b.live, id)
	e.at = now
	if len(b.gone) == maxEndedTokens {
		b.gone = append(b.gone[:0], b.gone[1:]...)
	}
	b.gone = append(b.gone, e)
	b.prune(now)
}

func (b *tokenBook) prune(now time.Time) {
	i := 0
	for i < len(b.gone) && now.Sub(b.gone[i].at) > endedTokenTTL {
		i++
	}
	if i > 0 {
		b.gone = append(b.gone[:0], b.gone[i:]...)
	}
}

// start runs the proxy, on port if it is not zero (a restart's: see
// proxystate.go), else on a new ephemeral port.
func (m *proxyManager) start(port int) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.srv != nil {
		return m.url, nil
	}
	lis, moved, err := proxy.ListenOn(port)
	if err != nil {
		return "", err
	}
	if moved {
		m.log.Warn("hub proxy: its port before the restart is taken by another program; jobs started before the restart lose the Hub",
			"port", port, "new", lis.Addr().String())
	}
	m.setPort(lis.Addr().(*net.TCPAddr).Port)
	m.p = proxy.New(proxy.Options{Leases: liveLeases{m}, Logger: m.log, EndedCause: m.ended, Audit: func(ev proxy.Event) {
		reason := ev.Reason
		if ev.Denied && reason == "" {
			reason = "denied"
		}
		if err := m.audit.Write(audit.Event{Time: ev.Time, Event: "proxy.request", LeaseID: ev.LeaseID, Method: ev.Method,
			Path: ev.Path, Status: ev.Status, Bytes: ev.Bytes, Reason: reason, Purpose: string(broker.PurposeProxy)}); err != nil {
			m.log.Warn("audit write failed", "err", err)
		}
	}, Summary: m.summary})
	// Only this user's processes may talk to the proxy (Linux); the rest
	// are closed at accept and counted in the summary.
	lis = m.p.OwnerOnly(lis, uint32(os.Getuid()))
	m.srv = proxy.NewServer(m.procs.serve(m.p))
	// net/http's own complaints (accept errors, a semicolon in a query) go
	// through the daemon's logger, and so under its cap, not straight to fd 2.
	m.srv.ErrorLog = slog.NewLogLogger(m.log.Handler(), slog.LevelWarn)
	m.url = "http://" + lis.Addr().(*net.TCPAddr).String()
	m.done = make(chan struct{})
	go func() {
		defer close(m.done)
		if err := m.srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("proxy stopped", "err", err)
		}
	}()
	m.log.Info("hub proxy listening", "url", m.url)
	return m.url, nil
}

// summary writes the proxy's counted refusals as one audit line and one log
// line per window, however many there were.
func (m *proxyManager) summary(s proxy.Summary) {
	m.log.Warn("proxy: refusals in the last window", "connections_other_uid", s.Connections, "requests_without_lease", s.Requests,
		"since", s.Start.Format(time.RFC3339), "last_reason", s.LastReason)
	if err := m.audit.Write(audit.Event{Time: s.End, Event: audit.ProxyRefused, Purpose: string(broker.PurposeProxy),
		Count: s.Connections + s.Requests, Reason: s.String()}); err != nil {
		m.log.Warn("audit write failed", "err", err)
	}
}

func (m *proxyManager) ended(id string) (string, bool) {
	if m.endedCause == nil {
		return "", false
	}
	return m.endedCause(id)
}

// Close stops the proxy, waiting up to the deadline for downloads.
func (m *proxyManager) Close(timeout time.Duration) {
	m.mu.Lock()
	srv, p, done := m.srv, m.p, m.done
	m.mu.Unlock()
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		srv.Close()
	}
	<-done
	p.Close()
}

// liveLeases is the proxy's view of the table: a lease token counts only
// while the broker still holds its lease, so a token whose lease ended in the
// moment between grant and registration, or past its TTL before the reaper
// ran, fails at once.
type liveLeases struct{ m *proxyManager }

func (l liveLeases) Lookup(tok string) (proxy.Lease, bool) {
	lease, ok := l.m.lookup(tok)
	if !ok {
		return proxy.Lease{}, false
	}
	if l.m.live != nil && !l.m.live(lease.ID) {
		l.m.remove(lease.ID)
		return proxy.Lease{}, false
	}
	if l.m.current != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		tok, err := l.m.current(ctx, lease.ID)
		cancel()
		if err != nil {
			l.m.log.Warn("proxy: no current token for the lease", "lease", lease.ID, "err", err)
			return proxy.Lease{}, false
		}
		lease.Token = tok
	}
	return lease, true
}

// Ended implements proxy.EndedLeases.
func (l liveLeases) Ended(tok string) (string, bool) {
	l.m.tmu.Lock()
	t := l.m.table
	l.m.tmu.Unlock()
	if t == nil {
		return "", false
	}
	return t.Ended(tok)
}

// Waiting implements proxy.Waiting: restored leases wait for an unlock.
func (l liveLeases) Waiting() (time.Duration, string, bool) { return l.m.waiting() }
