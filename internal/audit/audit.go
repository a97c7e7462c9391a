// Package audit appends the broker's events to a JSONL file and reads them
// back.
package audit

import (
	"errors"
	"fmt"
	"time"
)

// Event names. The set is open; these are the ones the broker writes.
const (
	TokenAdded   = "token.added"
	TokenRemoved = "token.removed"
	LeaseGranted = "lease.granted"
	LeaseDenied  = "lease.denied"
	LeaseEnded   = "lease.ended"
	GitGet       = "git.get"
	GitErase     = "git.erase"
	GitStore     = "git.store"
	ProxyRequest = "proxy.request"
	// ProxyRefused aggregates, once a minute, the proxy's refusals that get
	// no line of their own (requests without a lease, connections from other
	// uids), so a flood of them cannot rotate the grants out of the log.
	ProxyRefused = "proxy.refused"
	Locked       = "broker.locked"
	Unlocked     = "broker.unlocked"
)

// Event is one audit record: who (uid, pid, exe, cwd) used which token
// (profile and fingerprint, never the value) for what (repo, access,
// purpose). No field holds a token; Write refuses an event that looks as if
// one slipped in. UID 0 is omitted like every other zero value: the daemon
// is per user and serves only its own uid, so an absent uid means "not from
// a peer" (a TTL expiry), not root.
type Event struct {
	Time        time.Time `json:"time"`
	Event       string    `json:"event"`
	Profile     string    `json:"profile,omitempty"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	Repo        string    `json:"repo,omitempty"`
	Access      string    `json:"access,omitempty"`
	Purpose     string    `json:"purpose,omitempty"`
	LeaseID     string    `json:"lease_id,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	Cause       string    `json:"cause,omitempty"`
	UID         int       `json:"uid"`
	PID         int       `json:"pid,omitempty"`
	Exe         string    `json:"exe,omitempty"`
	Cwd         string    `json:"cwd,omitempty"`
	// Forward names the restricted socket's forward a lease came through
	// (issue 15): host, ssh pid and start time.
	Forward string `json:"forward,omitempty"`

	// Proxy requests.
	Method string `json:"method,omitempty"`
	Path   string `json:"path,omitempty"`
	Status int    `json:"status,omitempty"`
	Bytes  int64  `json:"bytes,omitempty"`
	// Count is how many refusals a proxy.refused line stands for.
	Count int64 `json:"count,omitempty"`
}

// Sink takes events; *Log writes them to disk, Memory keeps them for tests.
type Sink interface {
	Write(Event) error
}

// MaxLineBytes bounds one serialized event. Fields come partly from peers
// (a proxied path, an exe path); an event this large is a bug or an attack,
// and one bounded line keeps Read's memory bounded too.
const MaxLineBytes = 64 << 10

var (
	// ErrTokenShaped is returned for an event whose serialized form contains
	// something shaped like a Hugging Face token. The event is not written.
	ErrTokenShaped = errors.New("audit: refused an event that appears to contain a token")
	// ErrTooLarge is returned for an event longer than MaxLineBytes.
	ErrTooLarge = fmt.Errorf("audit: refused an event longer than %d bytes", MaxLineBytes)
)

// encode serializes ev as one JSONL line (newline included) after the
// checks every Sink applies. now fills a zero Time.
func encode(ev Event, now func() time.Time) ([]byte, error) {
	if ev.Time.IsZero() {
		ev.Time = now()
	}
	line, err := appendEvent(make([]byte, 0, 384), &ev)
	if err != nil {
		// Only an unrepresentable time can get here; no field text is shown.
		return nil, fmt.Errorf("audit: encode %s event: %w", ev.Event, err)
	}
	if hasTokenShape(line) {
		return nil, ErrTokenShaped
	}
	if len(line)+1 > MaxLineBytes {
		return nil, ErrTooLarge
	}
	return append(line, '\n'), nil
}
