package hubapi

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// The Hub's answers as errors, with no HTTP client: internal/hub makes
// them, the broker and the proxy read them (internal/hub re-exports them).

// Sentinel errors. Every *HTTPError unwraps to exactly one of them, so callers
// branch with errors.Is and show err.Error(), which quotes the Hub.
var (
	// ErrInvalidToken: 401 "Invalid credentials in Authorization header",
	// the token is unknown, revoked or expired.
	ErrInvalidToken = errors.New("the Hub does not accept this token")
	// ErrRepoNotFound: the repo does not exist or this token cannot see it.
	ErrRepoNotFound = errors.New("repository not found")
	// ErrGatedRepo: the repo is gated and this user or token has no access.
	ErrGatedRepo = errors.New("gated repository")
	// ErrTokenPolicy: an org's token policy has not approved this token.
	ErrTokenPolicy = errors.New("blocked by the organization token policy")
	// ErrTokenRevoked: an org admin revoked this token for the org.
	ErrTokenRevoked = errors.New("token revoked by the organization")
	// ErrForbidden: any other 403.
	ErrForbidden = errors.New("forbidden")
	// ErrRateLimited: 429; see *RateLimitError for when to retry.
	ErrRateLimited = errors.New("rate limited")
	// ErrUnavailable: 5xx.
	ErrUnavailable = errors.New("the Hub is unavailable")
	// ErrUnexpected: any other status or an answer that cannot be read.
	ErrUnexpected = errors.New("unexpected answer from the Hub")
)

// HTTPError is a non-2xx answer. Code and Message are the Hub's X-Error-Code
// and X-Error-Message (or body "error"), cleaned of control characters and
// of the token, should a hostile server echo it.
type HTTPError struct {
	Op        string // "whoami-v2", "auth-check", "repo info"
	Status    int
	Code      string
	Message   string
	RequestID string
	// Kind is the sentinel this answer maps to (ErrInvalidToken, ...).
	Kind error
	// StatusText is the status's reason phrase ("Unauthorized").
	StatusText string
}

func (e *HTTPError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %v: the Hub answered %d %s", e.Op, e.Kind, e.Status, e.StatusText)
	if e.Code != "" {
		fmt.Fprintf(&b, " (%s)", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %q", e.Message)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request id %s]", e.RequestID)
	}
	return b.String()
}

// Unwrap returns the sentinel this answer maps to.
func (e *HTTPError) Unwrap() error { return e.Kind }

// RateLimitError is a 429 with the Hub's RateLimit headers parsed:
// RateLimit: "api";r=0;t=123 and RateLimit-Policy: "fixed window";"api";q=500;w=300.
type RateLimitError struct {
	*HTTPError
	Bucket    string        // "api", "pages" or "resolvers"
	Remaining int           // r; -1 if the header is missing
	Reset     time.Duration // t: when the window resets; 0 if unknown
	Quota     int           // q; 0 if unknown
	Window    time.Duration // w; 0 if unknown
}

func (e *RateLimitError) Error() string {
	s := e.HTTPError.Error()
	if e.Reset > 0 {
		s += fmt.Sprintf("; retry in %s", e.Reset)
	}
	return s
}

// Unwrap returns the *HTTPError, which unwraps to ErrRateLimited.
func (e *RateLimitError) Unwrap() error { return e.HTTPError }
