package proxy

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"sync"
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
}

// NewTable returns an empty Table.
func NewTable() *Table { return &Table{m: make(map[[sha256.Size]byte]Lease)} }

// Add makes leaseToken valid for l, replacing any lease it had.
func (t *Table) Add(leaseToken string, l Lease) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.m[sha256.Sum256([]byte(leaseToken))] = l
}

// Remove ends leaseToken's lease: from now on it gets 401.
func (t *Table) Remove(leaseToken string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, sha256.Sum256([]byte(leaseToken)))
}

// RemoveID ends every token of the lease with this ID and says how many
// there were.
func (t *Table) RemoveID(id string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for k, l := range t.m {
		if l.ID == id {
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
