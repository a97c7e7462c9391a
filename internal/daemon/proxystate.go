package daemon

import (
	"context"
	"crypto/rand"
	"errors"
	"maps"
	"sync"
	"time"

	"github.com/hfbroker/hfbroker/internal/broker"
	"github.com/hfbroker/hfbroker/internal/keystore"
	"github.com/hfbroker/hfbroker/internal/proxy"
	"github.com/hfbroker/hfbroker/internal/secret"
)

// leaseTable is the proxy manager's table of lease tokens and what of it
// outlives a restart (issue 20 item 7, see leasestate.go): the table is keyed
// by the HMAC of each lease token under the store's lease key, so its sums
// can be saved and a restarted daemon recognises the tokens its jobs hold.
type leaseTable struct {
	// leaseKey reads (with create: or makes) the store's lease key;
	// leaseToken reads a live lease's real token; saved asks for the lease
	// state to be written (with wait: and waits for it). Set by the daemon.
	leaseKey   func(ctx context.Context, create bool) ([]byte, error)
	leaseToken func(ctx context.Context, id string) (broker.Lease, secret.Token, error)
	saved      func(wait bool)
	// storeLocked reports whether the store is a vault still locked.
	storeLocked func() bool

	resolving sync.Mutex // one resolve at a time

	tmu        sync.Mutex
	table      *proxy.Table // nil until the key is known
	kid        string       // keyID of table's key; "" when the key is not the store's
	sums       map[string]proxy.Sum
	pending    []restoredProxyLease // restored, waiting for the key or their token
	pendingKID string
	port       int
	nextTry    time.Time
}

// restoredProxyLease is a proxy lease taken back after a restart: its id
// and its lease token's hash, but not yet its real token.
type restoredProxyLease struct {
	id                 string
	sum                proxy.Sum
	fingerprint, label string // for the token book (scan)
}

// storeTimeout bounds the store reads of resolve (a keychain may hang).
const storeTimeout = 5 * time.Second

// retryUnlockAfter is the Retry-After of a request that waits for an unlock,
// and how often a waiting lookup tries the store again.
const retryUnlockAfter = 2 * time.Second

func proxyLease(l broker.Lease, real secret.Token) proxy.Lease {
	pl := proxy.Lease{ID: l.ID, Endpoint: l.Endpoint, Token: real, Repo: l.Repo, Write: l.Access == broker.AccessWrite, Public: l.Public}
	if l.Forward.Host != "" {
		// A remote's refused write: the forward's flag allows it, not
		// hfbroker exec's --write-repo there.
		pl.WriteHint = "reconnect with 'hfbroker ssh --allow-write " + l.Forward.Host + "' (with a token that can write there)"
	}
	for _, g := range l.Repos {
		pl.Repos = append(pl.Repos, proxy.Grant{Repo: g.Repo, Write: g.Access == broker.AccessWrite})
	}
	return pl
}

// add makes tok valid for l and saves the lease state before the job gets
// tok: a kill -9 a moment later must not orphan it.
func (m *proxyManager) add(tok string, l proxy.Lease) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	m.resolve(ctx, true)
	if m.leaseKey != nil {
		// After 'hfbroker migrate' the key moves into the new store with
		// the next lease (broker.LeaseKey); otherwise this is a cached read.
		if _, err := m.leaseKey(ctx, true); err != nil {
			m.log.Warn("hub proxy: cannot keep the lease key in the token store", "err", err)
		}
	}
	m.tmu.Lock()
	t := m.table
	sum := t.Sum(tok)
	t.AddSum(sum, l)
	persist := m.kid != ""
	if persist {
		if m.sums == nil {
			m.sums = map[string]proxy.Sum{}
		}
		m.sums[l.ID] = sum
	}
	m.tmu.Unlock()
	if persist && m.saved != nil {
		m.saved(true)
	}
}

// remove forgets a lease's token.
func (m *proxyManager) remove(id string) {
	m.tmu.Lock()
	defer m.tmu.Unlock()
	if m.table != nil {
		m.table.RemoveID(id)
	}
	delete(m.sums, id)
	for i, p := range m.pending {
		if p.id == id {
			m.pending = append(m.pending[:i], m.pending[i+1:]...)
			break
		}
	}
}

// lookup finds a lease token's lease. While restored leases wait, a miss
// tries the store again (at most every retryUnlockAfter): after 'hfbroker
// unlock' the next request resolves them.
func (m *proxyManager) lookup(tok string) (proxy.Lease, bool) {
	m.tmu.Lock()
	t, waiting := m.table, len(m.pending) > 0
	due := waiting && !time.Now().Before(m.nextTry)
	m.tmu.Unlock()
	if t != nil {
		if l, ok := t.Lookup(tok); ok {
			return l, true
		}
	}
	// A locked vault is not asked (it answers the moment it is unlocked);
	// a keychain that failed is asked again after a pause, not on every
	// request (each ask may raise an unlock prompt).
	if !due || (m.storeLocked != nil && m.storeLocked()) {
		return proxy.Lease{}, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	m.resolve(ctx, false)
	m.tmu.Lock()
	t = m.table
	if len(m.pending) > 0 {
		m.nextTry = time.Now().Add(retryUnlockAfter)
	}
	m.tmu.Unlock()
	if t == nil {
		return proxy.Lease{}, false
	}
	return t.Lookup(tok)
}

// waiting says whether restored leases still wait for the store.
func (m *proxyManager) waiting() (time.Duration, string, bool) {
	m.tmu.Lock()
	defer m.tmu.Unlock()
	if len(m.pending) == 0 {
		return 0, "", false
	}
	return retryUnlockAfter, "hfbroker restarted and cannot read its token store yet: run 'hfbroker unlock' if the vault is locked", true
}

func (m *proxyManager) setPort(port int) {
	m.tmu.Lock()
	m.port = port
	m.tmu.Unlock()
}

// persisted is what the lease state keeps of the proxy: its port, its key's
// id and the hashes of the lease tokens it can recognise after a restart,
// by lease id (the restored ones still waiting included).
func (m *proxyManager) persisted() (port int, kid string, sums map[string]proxy.Sum) {
	m.tmu.Lock()
	defer m.tmu.Unlock()
	sums = maps.Clone(m.sums)
	if sums == nil {
		sums = map[string]proxy.Sum{}
	}
	kid = m.kid
	if len(m.pending) > 0 {
		kid = m.pendingKID
		for _, p := range m.pending {
			sums[p.id] = p.sum
		}
	}
	return m.port, kid, sums
}

// restore brings the proxy back on port with leases restored from the lease
// state, and resolves them now if the store can be read.
func (m *proxyManager) restore(port int, kid string, leases []restoredProxyLease) {
	m.tmu.Lock()
	m.pending, m.pendingKID = append(m.pending, leases...), kid
	m.tmu.Unlock()
	m.mu.Lock()
	for _, l := range leases {
		if l.fingerprint != "" {
			m.book.issued(l.id, l.fingerprint, l.label)
		}
	}
	m.mu.Unlock()
	if _, err := m.start(port); err != nil {
		m.log.Warn("hub proxy: cannot start it for the restored leases", "err", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	m.resolve(ctx, false)
	if _, _, waiting := m.waiting(); waiting {
		m.log.Warn("hub proxy: restored leases wait for the token store (run 'hfbroker unlock' if the vault is locked); their requests get 503 until then",
			"leases", len(leases))
	}
}

// resolve makes the table once the store's key can be read (with create:
// made; if the store cannot keep one, a key of this run's own, whose leases
// then do not outlive a restart), and gives each waiting restored lease its
// real token. A lease the store no longer has a key or a token for is
// dropped; one the store cannot answer for yet (locked) waits.
func (m *proxyManager) resolve(ctx context.Context, create bool) {
	m.resolving.Lock()
	defer m.resolving.Unlock()
	m.tmu.Lock()
	t, pending, pkid := m.table, m.pending, m.pendingKID
	m.tmu.Unlock()
	if t == nil {
		if m.leaseKey == nil {
			create = true // no store (tests): a key of this run's own
		}
		var key []byte
		var err error
		if m.leaseKey != nil {
			key, err = m.leaseKey(ctx, create)
		}
		kid := ""
		switch {
		case err == nil && key != nil:
			kid = keyID(key)
		case create:
			if err != nil {
				m.log.Warn("hub proxy: cannot keep a lease key in the token store; proxy jobs will not outlive a restart", "err", err)
			}
			key = make([]byte, broker.LeaseKeySize)
			rand.Read(key)
		case errors.Is(err, keystore.ErrNotFound):
			m.dropPending("the token store holds no lease key")
			return
		default:
			return // locked, or the keychain did not answer: wait
		}
		t = proxy.NewKeyedTable(key)
		m.tmu.Lock()
		m.table, m.kid = t, kid
		m.tmu.Unlock()
	}
	if len(pending) == 0 {
		return
	}
	m.tmu.Lock()
	kid := m.kid
	m.tmu.Unlock()
	if kid == "" || kid != pkid {
		m.dropPending("the token store's lease key is not the one they were saved with")
		return
	}
	var keep []restoredProxyLease
	for _, p := range pending {
		l, tok, err := m.leaseToken(ctx, p.id)
		var be *broker.Error
		if err != nil && errors.As(err, &be) && be.Kind == broker.KindNotFound {
			m.log.Warn("hub proxy: a restored lease lost its token; its job gets 401", "lease", p.id, "err", err)
			continue
		}
		if err != nil {
			keep = append(keep, p)
			continue
		}
		t.AddSum(p.sum, proxyLease(l, tok))
		m.tmu.Lock()
		if m.sums == nil {
			m.sums = map[string]proxy.Sum{}
		}
		m.sums[p.id] = p.sum
		m.tmu.Unlock()
	}
	m.tmu.Lock()
	// Leases ended meanwhile were removed from m.pending: keep only those
	// still there.
	var still []restoredProxyLease
	for _, p := range m.pending {
		for _, k := range keep {
			if k.id == p.id {
				still = append(still, p)
			}
		}
		if !containsID(pending, p.id) {
			still = append(still, p) // restored after this resolve began
		}
	}
	m.pending = still
	m.tmu.Unlock()
	if len(still) == 0 {
		m.log.Info("hub proxy: restored leases resolved", "leases", len(pending)-len(keep))
	}
}

func containsID(ps []restoredProxyLease, id string) bool {
	for _, p := range ps {
		if p.id == id {
			return true
		}
	}
	return false
}

func (m *proxyManager) dropPending(why string) {
	m.tmu.Lock()
	n := len(m.pending)
	m.pending = nil
	m.tmu.Unlock()
	if n > 0 {
		m.log.Warn("hub proxy: restored leases cannot be recognised; their jobs get 401", "leases", n, "reason", why)
	}
}
