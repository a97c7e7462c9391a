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
// by the SHA-256 of their token, so a lookup never compares token bytes in
// variable time and the table holds no lease token itself.
type Table struct {
	mu sync.RWMutex
	m  map[[sha256.Size]byte]Lease
	// dead remembers, for a while, the lease a removed token belonged to,
	// so that its next request hears that the lease ended. It is keyed by
	// an HMAC of the token under a key drawn at start, never the token.
	deadKey [32]byte
	dead    map[[sha256.Size]byte]deadLease
	order   [][sha256.Size]byte // dead keys, oldest first
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

// NewTable returns an empty Table.
func NewTable() *Table {
	t := &Table{m: make(map[[sha256.Size]byte]Lease), dead: map[[sha256.Size]byte]deadLease{}}
	if _, err := rand.Read(t.deadKey[:]); err != nil {
		panic("proxy: no randomness for the dead-token key: " + err.Error())
	}
	return t
}

func (t *Table) deadSum(leaseToken string) [sha256.Size]byte {
	m := hmac.New(sha256.New, t.deadKey[:])
	m.Write([]byte(leaseToken))
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

// buryLocked remembers that the token with this dead key belonged to id.
// The table's mutex must be held. RemoveID knows the lease, not its token,
// so Add keeps each token's dead key in its entry.
func (t *Table) buryLocked(deadKey [sha256.Size]byte, id string) {
	if _, dup := t.dead[deadKey]; !dup {
		if len(t.order) >= maxDead {
			delete(t.dead, t.order[0])
			t.order = t.order[1:]
		}
		t.order = append(t.order, deadKey)
	}
	t.dead[deadKey] = deadLease{id: id, at: time.Now()}
}

// Ended implements EndedLeases: the lease a token belonged to, if it ended
// within the last hour (and among the last 4096).
func (t *Table) Ended(leaseToken string) (string, bool) {
	k := t.deadSum(leaseToken)
	t.mu.RLock()
	defer t.mu.RUnlock()
	d, ok := t.dead[k]
	if !ok || time.Since(d.at) > deadFor {
		return "", false
	}
	return d.id, true
}

// Add makes leaseToken valid for l, replacing any lease it had.
func (t *Table) Add(leaseToken string, l Lease) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l.deadKey = t.deadSum(leaseToken)
	t.m[sha256.Sum256([]byte(leaseToken))] = l
}

// Remove ends leaseToken's lease: from now on it gets 401.
func (t *Table) Remove(leaseToken string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := sha256.Sum256([]byte(leaseToken))
	if l, ok := t.m[k]; ok {
		t.buryLocked(l.deadKey, l.ID)
		delete(t.m, k)
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
			t.buryLocked(l.deadKey, l.ID)
			delete(t.m, k)
			n++
		}
	}
	return n
}

// Lookup implements Leases.
func (t *Table) Lookup(leaseToken string) (Lease, bool) {
	sum := sha256.Sum256([]byte(leaseToken))
	t.mu.RLock()
	defer t.mu.RUnlock()
	l, ok := t.m[sum]
	return l, ok
}
