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
	// Label is the lease's label: a Jupyter kernel's name, "git" for a
	// remote's git lease through the proxy.
	Label string `json:"label,omitempty"`

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
	// ErrTokenShaped is returned for an event whose serialized form still
	// holds something shaped like a Hugging Face token after every
	// token-shaped run in its fields was cut out. The event is not written.
	ErrTokenShaped = errors.New("audit: refused an event that appears to contain a token")
	// ErrTooLarge is returned for an event longer than MaxLineBytes.
	ErrTooLarge = fmt.Errorf("audit: refused an event longer than %d bytes", MaxLineBytes)
)

// Redacted replaces each token-shaped run in an event's text.
const Redacted = "hf_[redacted]"

// encode serializes *ev as one JSONL line (newline included) after the
// checks every Sink applies. now fills a zero Time. An event with
// token-shaped text is written with that text cut out (redacted reports
// it), not dropped: a lease's label or repo name is chosen by whoever asks
// for the lease (a remote through a forward, too), and dropping the line
// would let them keep their lease out of the log.
func encode(ev *Event, now func() time.Time) (line []byte, redacted bool, err error) {
	return encodeAppend(make([]byte, 0, 384), ev, now)
}

// encodeAppend is encode appending the line to dst[:0].
func encodeAppend(dst []byte, ev *Event, now func() time.Time) (line []byte, redacted bool, err error) {
	if ev.Time.IsZero() {
		ev.Time = now()
	}
	line, err = appendEvent(dst[:0], ev)
	if err != nil {
		// Only an unrepresentable time can get here; no field text is shown.
		return nil, false, fmt.Errorf("audit: encode %s event: %w", ev.Event, err)
	}
	if hasTokenShape(line) {
		redactEvent(ev)
		redacted = true
		if line, err = appendEvent(line[:0], ev); err != nil || hasTokenShape(line) {
			return nil, true, ErrTokenShaped
		}
	}
	if len(line)+1 > MaxLineBytes {
		return nil, redacted, ErrTooLarge
	}
	return append(line, '\n'), redacted, nil
}

// redactEvent replaces every token-shaped run in ev's text with Redacted.
func redactEvent(ev *Event) {
	for _, f := range []*string{&ev.Event, &ev.Profile, &ev.Fingerprint, &ev.Repo, &ev.Access, &ev.Purpose,
		&ev.LeaseID, &ev.Reason, &ev.Cause, &ev.Exe, &ev.Cwd, &ev.Forward, &ev.Label, &ev.Method, &ev.Path} {
		*f = redactTokenShapes(*f)
	}
}

// RedactTokens replaces each token-shaped run in s with Redacted, as the
// log does to its fields: for any other text that leaves the daemon, such
// as an error that quotes what a caller sent (a token given to --profile).
func RedactTokens(s string) string { return redactTokenShapes(s) }

// redactTokenShapes replaces each run that hasTokenShape finds in s.
func redactTokenShapes(s string) string {
	var b []byte
	last := 0
	for i := 0; i+3 <= len(s); i++ {
		n := tokenShapeAt(s[i:])
		if n == 0 {
			continue
		}
		b = append(append(b, s[last:i]...), Redacted...)
		last = i + n
		i = last - 1
	}
	if b == nil {
		return s
	}
	return string(append(b, s[last:]...))
}
