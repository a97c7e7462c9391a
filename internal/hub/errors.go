package hub

import (
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/hfbroker/hfbroker/internal/hubapi"
)

// The errors live in hubapi (no net/http), so that the broker can read
// them without linking an HTTP client; these are their names here.
var (
	ErrInvalidToken = hubapi.ErrInvalidToken
	ErrRepoNotFound = hubapi.ErrRepoNotFound
	ErrGatedRepo    = hubapi.ErrGatedRepo
	ErrTokenPolicy  = hubapi.ErrTokenPolicy
	ErrTokenRevoked = hubapi.ErrTokenRevoked
	ErrForbidden    = hubapi.ErrForbidden
	ErrRateLimited  = hubapi.ErrRateLimited
	ErrUnavailable  = hubapi.ErrUnavailable
	ErrUnexpected   = hubapi.ErrUnexpected
)

// Messages the Hub sends that the client recognises (hf-hub-auth.md §1.6).
const (
	MsgInvalidCredentials = "Invalid credentials in Authorization header"
	MsgTokenPolicy        = "Due to the organization token policy, your token needs to be approved by the organization before you can access this resource."
	MsgTokenRevoked       = "Your token has been revoked by the organization administrator, you can no longer access organization resources. Please contact them for more information."
)

// HTTPError is a non-2xx answer (hubapi.HTTPError).
type HTTPError = hubapi.HTTPError

// RateLimitError is a 429 with the Hub's RateLimit headers parsed
// (hubapi.RateLimitError).
type RateLimitError = hubapi.RateLimitError

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
