package proxy

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"
)

// leaseTokenLetters is the alphabet of lease tokens: letters only, like the
// classic Hub tokens that secret scanners look for (hf_ + 34 letters), so a
// leaked lease token is flagged as one.
const leaseTokenLetters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// LeaseTokenLen is the length of a lease token: "hf_" and 34 letters.
const LeaseTokenLen = 3 + 34

// NewLeaseToken returns a fresh lease token: "hf_" and 34 letters drawn
// uniformly from crypto/rand (about 194 bits). The prefix matters: clients
// such as huggingface.js refuse tokens without it.
func NewLeaseToken() (string, error) {
	// Rejection sampling keeps the draw unbiased: 208 = 4*52 is the largest
	// multiple of 52 that fits in a byte, so bytes 208..255 are dropped.
	const limit = 4 * len(leaseTokenLetters)
	out := make([]byte, 0, LeaseTokenLen)
	out = append(out, "hf_"...)
	var buf [64]byte
	for len(out) < LeaseTokenLen {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", fmt.Errorf("read random bytes for a lease token: %w", err)
		}
		for _, b := range buf {
			if int(b) >= limit {
				continue
			}
			out = append(out, leaseTokenLetters[int(b)%len(leaseTokenLetters)])
			if len(out) == LeaseTokenLen {
				break
			}
		}
	}
	return string(out), nil
}

// Table is a Leases kept in memory, safe for concurrent use. It keys leases
// by the SHA-256 of their token (with a key: HMAC-SHA256), so a lookup never
// compares token bytes in variable time and the table holds no lease token
// itself.
type Table struct {
	key []byte // nil: plain SHA-256
	mu  sync.RWMutex
	m   map[Sum]Lease
	// dead remembers, for a while, the lease a removed token belonged to,
	// so that its next request hears that the lease ended. It is keyed by
	// the same sum as m, never the token.
	dead  map[Sum]deadLease
	order []Sum // dead sums, oldest first
}

type deadLease struct {
	id string
	at time.Time
}

// Bounds of the dead-token memory: how many, and for how long.
const (
	maxDead = 4096
	deadFor = time.Hour
)

// Sum is a lease token's hash as a Table keys it.
type Sum = [sha256.Size]byte

// NewTable returns an empty Table.
func NewTable() *Table { return &Table{m: make(map[Sum]Lease), dead: map[Sum]deadLease{}} }

// NewKeyedTable returns an empty Table that keys leases by the HMAC-SHA256
// of their token under key: its sums can be written down (the daemon's
// lease state) without being a way to guess or check a token offline.
func NewKeyedTable(key []byte) *Table {
	t := NewTable()
	t.key = append([]byte(nil), key...)
	return t
}

// Sum returns leaseToken's hash under the table's key.
func (t *Table) Sum(leaseToken string) Sum {
	if t.key == nil {
		return sha256.Sum256([]byte(leaseToken))
	}
	h := hmac.New(sha256.New, t.key)
	h.Write([]byte(leaseToken))
	var s Sum
	h.Sum(s[:0])
	return s
}

// buryLocked remembers that the token with this sum belonged to lease id.
// The table's mutex must be held.
func (t *Table) buryLocked(sum Sum, id string) {
	if _, dup := t.dead[sum]; !dup {
		if len(t.order) >= maxDead {
			delete(t.dead, t.order[0])
			t.order = t.order[1:]
		}
		t.order = append(t.order, sum)
	}
	t.dead[sum] = deadLease{id: id, at: time.Now()}
}

// Ended implements EndedLeases: the lease a token belonged to, if it ended
// within the last hour (and among the last 4096).
func (t *Table) Ended(leaseToken string) (string, bool) {
	sum := t.Sum(leaseToken)
	t.mu.RLock()
	defer t.mu.RUnlock()
	d, ok := t.dead[sum]
	if !ok || time.Since(d.at) > deadFor {
		return "", false
	}
	return d.id, true
}

// Add makes leaseToken valid for l, replacing any lease it had.
func (t *Table) Add(leaseToken string, l Lease) {
	t.AddSum(t.Sum(leaseToken), l)
}

// AddSum makes the token whose Sum is sum valid for l: a lease restored
// from the daemon's state, whose token it never kept.
func (t *Table) AddSum(sum Sum, l Lease) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.m[sum] = l
}

// Remove ends leaseToken's lease: from now on it gets 401.
func (t *Table) Remove(leaseToken string) {
	sum := t.Sum(leaseToken)
	t.mu.Lock()
	defer t.mu.Unlock()
	if l, ok := t.m[sum]; ok {
		t.buryLocked(sum, l.ID)
		delete(t.m, sum)
	}
}

// RemoveID ends every token of the lease with this ID and says how many
// there were.
func (t *Table) RemoveID(id string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for k, l := range t.m {
		if l.ID == id {
			t.buryLocked(k, l.ID)
			delete(t.m, k)
			n++
		}
	}
	return n
}

// Lookup implements Leases.
func (t *Table) Lookup(leaseToken string) (Lease, bool) {
	sum := t.Sum(leaseToken)
	t.mu.RLock()
	defer t.mu.RUnlock()
	l, ok := t.m[sum]
	return l, ok
}
