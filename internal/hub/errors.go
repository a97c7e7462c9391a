package hub

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
)

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

// Messages the Hub sends that the client recognises (hf-hub-auth.md §1.6).
const (
	MsgInvalidCredentials = "Invalid credentials in Authorization header"
	MsgTokenPolicy        = "Due to the organization token policy, your token needs to be approved by the organization before you can access this resource."
	MsgTokenRevoked       = "Your token has been revoked by the organization administrator, you can no longer access organization resources. Please contact them for more information."
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
	kind      error
}

func (e *HTTPError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %v: the Hub answered %d %s", e.Op, e.kind, e.Status, http.StatusText(e.Status))
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
func (e *HTTPError) Unwrap() error { return e.kind }

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

// errorBody is what the Hub puts in an error body: {"error": "..."},
// {"error": {"message": "..."}}, {"error": "...", "error_description": "..."}
// or {"errors": [{"message": "..."}]}.
type errorBody struct {
	Error            any    `json:"error"`
	ErrorDescription string `json:"error_description"`
	Errors           []struct {
		Message string `json:"message"`
	} `json:"errors"`
}

func (b errorBody) message() string {
	var parts []string
	switch v := b.Error.(type) {
	case string:
		parts = append(parts, v)
	case map[string]any:
		if m, ok := v["message"].(string); ok {
			parts = append(parts, m)
		}
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok {
				parts = append(parts, s)
			}
		}
	}
	if b.ErrorDescription != "" {
		parts = append(parts, b.ErrorDescription)
	}
	for _, e := range b.Errors {
		if e.Message != "" {
			parts = append(parts, e.Message)
		}
	}
	return strings.Join(parts, "; ")
}

// classify picks the sentinel for an answer. repoRoute is true on
// /api/{type}s/... where, as in huggingface_hub, a 401 that is not about the
// credentials means the repo is hidden from this caller.
func classify(status int, code, msg string, repoRoute bool) error {
	switch {
	case code == "GatedRepo":
		return ErrGatedRepo
	case code == "RepoNotFound":
		return ErrRepoNotFound
	case status == http.StatusUnauthorized:
		if strings.Contains(msg, MsgInvalidCredentials) || !repoRoute {
			return ErrInvalidToken
		}
		return ErrRepoNotFound
	case status == http.StatusForbidden:
		switch {
		case strings.Contains(msg, "organization token policy"):
			return ErrTokenPolicy
		case strings.Contains(msg, "revoked by the organization"):
			return ErrTokenRevoked
		}
		return ErrForbidden
	case status == http.StatusNotFound && repoRoute:
		return ErrRepoNotFound
	case status == http.StatusTooManyRequests:
		return ErrRateLimited
	case status >= 500:
		return ErrUnavailable
	}
	return ErrUnexpected
}

// maxMessage bounds the Hub message quoted in an error.
const maxMessage = 500

// cleanMessage removes the token and control characters (a terminal escape
// in a hostile answer must not reach the user's screen) and bounds length.
func cleanMessage(s, token string) string {
	if token != "" {
		s = strings.ReplaceAll(s, token, "hf_…")
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > maxMessage {
		s = strings.ToValidUTF8(s[:maxMessage], "") + "…"
	}
	return s
}

// RateLimit is one parsed RateLimit or RateLimit-Policy header (IETF
// draft-ietf-httpapi-ratelimit-headers as the Hub sends it).
type RateLimit struct {
	Names  []string         // quoted items in order: "api" or "fixed window","api"
	Params map[string]int64 // r, t, q, w
}

// ParseRateLimit reads a header such as `"api";r=0;t=123` or
// `"fixed window";"api";q=500;w=300`. Unknown or malformed parameters are
// skipped, so a change on the Hub's side degrades to "retry later".
func ParseRateLimit(h string) RateLimit {
	rl := RateLimit{Params: map[string]int64{}}
	if len(h) > 1024 {
		h = h[:1024]
	}
	for _, item := range strings.FieldsFunc(h, func(r rune) bool { return r == ';' || r == ',' }) {
		item = strings.TrimSpace(item)
		if len(item) >= 2 && item[0] == '"' && item[len(item)-1] == '"' {
			rl.Names = append(rl.Names, item[1:len(item)-1])
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 || n > 1<<31 {
			continue
		}
		rl.Params[strings.ToLower(strings.TrimSpace(k))] = n
	}
	return rl
}

func rateLimitError(he *HTTPError, h http.Header) *RateLimitError {
	e := &RateLimitError{HTTPError: he, Remaining: -1}
	rl := ParseRateLimit(h.Get("RateLimit"))
	if len(rl.Names) > 0 {
		e.Bucket = rl.Names[0]
	}
	if r, ok := rl.Params["r"]; ok {
		e.Remaining = int(r)
	}
	if t, ok := rl.Params["t"]; ok {
		e.Reset = time.Duration(t) * time.Second
	} else if s, err := strconv.Atoi(h.Get("Retry-After")); err == nil && s >= 0 && s < 1<<31 {
		e.Reset = time.Duration(s) * time.Second
	}
	pol := ParseRateLimit(h.Get("RateLimit-Policy"))
	if q, ok := pol.Params["q"]; ok {
		e.Quota = int(q)
	}
	if w, ok := pol.Params["w"]; ok {
		e.Window = time.Duration(w) * time.Second
	}
	if e.Bucket == "" && len(pol.Names) > 1 {
		e.Bucket = pol.Names[1]
	}
	return e
}
