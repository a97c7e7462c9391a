package daemon

import (
	"fmt"
	"testing"
	"time"
)

// Issue 18: the daemon remembers the fingerprints of ended lease tokens, so
// that scan can call one harmless, but only for a bounded time and number.
func TestTokenBookRemembersEndedTokensWithinBounds(t *testing.T) {
	var b tokenBook
	now := time.Now()
	b.issued("l-1", "aaaa0001", "jupyter kernel k")
	if b.live["l-1"].fingerprint != "aaaa0001" {
		t.Fatalf("live fingerprint = %q", b.live["l-1"].fingerprint)
	}
	b.ended("l-1", now)
	if _, ok := b.live["l-1"]; ok || len(b.gone) != 1 || b.gone[0].fingerprint != "aaaa0001" || b.gone[0].label != "jupyter kernel k" {
		t.Fatalf("after end: live %v, gone %+v", b.live, b.gone)
	}
	b.ended("l-unknown", now) // never issued: nothing to remember
	if len(b.gone) != 1 {
		t.Fatalf("an unknown lease was remembered: %+v", b.gone)
	}

	// At most maxEndedTokens, oldest forgotten first.
	for i := range maxEndedTokens {
		id := fmt.Sprintf("l-x%d", i)
		b.issued(id, fmt.Sprintf("%08x", i), "")
		b.ended(id, now)
	}
	if len(b.gone) != maxEndedTokens || b.gone[0].id != "l-x0" {
		t.Fatalf("%d remembered, oldest %s; want %d, l-x0", len(b.gone), b.gone[0].id, maxEndedTokens)
	}

	// And for at most endedTokenTTL.
	b.prune(now.Add(endedTokenTTL + time.Second))
	if len(b.gone) != 0 {
		t.Fatalf("%d ended tokens remembered past %s", len(b.gone), endedTokenTTL)
	}
}
