// Package hub is the Hugging Face Hub API client: whoami-v2, auth-check and
// repo info, with typed errors and a token that only ever goes to the
// profile's own endpoint.
package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hfbroker/hfbroker/internal/hubapi"
	"github.com/hfbroker/hfbroker/internal/secret"
)

// Defaults for a zero Client.
const (
	DefaultTimeout   = 10 * time.Second
	DefaultMaxBody   = 1 << 20 // 1 MiB: a whoami answer is a few KiB
	DefaultUserAgent = "hfbroker"
	maxRedirects     = 5
)

// Errors about the request rather than the Hub's answer.
var (
	// ErrInsecureEndpoint is hubapi.ErrInsecureEndpoint.
	ErrInsecureEndpoint = hubapi.ErrInsecureEndpoint
	// ErrBadEndpoint is hubapi.ErrBadEndpoint.
	ErrBadEndpoint = hubapi.ErrBadEndpoint
	// ErrCrossOriginRedirect: the endpoint redirected elsewhere; the client
	// refuses rather than follow without (or, worse, with) the token.
	ErrCrossOriginRedirect = errors.New("redirect to another origin refused")
	// ErrBodyTooLarge: the answer is larger than MaxBody.
	ErrBodyTooLarge = errors.New("answer too large")
	// ErrNoToken: whoami needs a token (huggingface_hub refuses too).
	ErrNoToken = errors.New("no token")
	// ErrBadToken: the token holds bytes that cannot go in an HTTP header.
	ErrBadToken = errors.New("the token contains characters that cannot be sent in a header")
)

// Client calls the Hub API. The zero value is ready to use.
type Client struct {
	// HTTP is the transport; nil means a client with DefaultTimeout. The
	// client's CheckRedirect is always replaced by the same-origin policy.
	HTTP *http.Client
	// UserAgent defaults to DefaultUserAgent.
	UserAgent string
	// Timeout bounds each call even when HTTP has none; 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxBody bounds a success body; 0 means DefaultMaxBody.
	MaxBody int64
}

// New returns a Client with the defaults.
func New() *Client { return &Client{} }

// ParseEndpoint is hubapi.ParseEndpoint, the one endpoint rule.
func ParseEndpoint(endpoint string) (*url.URL, error) { return hubapi.ParseEndpoint(endpoint) }

// Whoami calls GET {endpoint}/api/whoami-v2. The Hub rate-limits this route
// strictly: callers must cache the answer.
func (c *Client) Whoami(ctx context.Context, endpoint string, tok secret.Token) (*Whoami, error) {
	if tok == "" {
		return nil, fmt.Errorf("whoami-v2: %w", ErrNoToken)
	}
	var me Whoami
	if err := c.get(ctx, "whoami-v2", endpoint, "/api/whoami-v2", tok, false, &me); err != nil {
		return nil, err
	}
	if me.Name == "" {
		return nil, fmt.Errorf("whoami-v2: %w: the answer has no user name", ErrUnexpected)
	}
	return &me, nil
}

// AuthCheck calls GET {endpoint}/api/{type}s/{ns}/{name}/auth-check[/write]
// and returns nil when the Hub says this token may read (or write) the repo.
// An empty token asks as an anonymous caller.
func (c *Client) AuthCheck(ctx context.Context, endpoint string, tok secret.Token, repo RepoRef, write bool) error {
	if !repo.Valid() {
		return fmt.Errorf("auth-check: %w %q", ErrInvalidRepo, repo.String())
	}
	path := repo.APIPath() + "/auth-check"
	if write {
		path += "/write"
	}
	return c.get(ctx, "auth-check", endpoint, path, tok, true, nil)
}

// RepoInfo calls GET {endpoint}/api/{type}s/{ns}/{name}.
func (c *Client) RepoInfo(ctx context.Context, endpoint string, tok secret.Token, repo RepoRef) (*RepoInfo, error) {
	if !repo.Valid() {
		return nil, fmt.Errorf("repo info: %w %q", ErrInvalidRepo, repo.String())
	}
	var info RepoInfo
	if err := c.get(ctx, "repo info", endpoint, repo.APIPath(), tok, true, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// get does one GET and decodes a 2xx JSON body into out (nil: body ignored).
func (c *Client) get(ctx context.Context, op, endpoint, path string, tok secret.Token, repoRoute bool, out any) error {
	base, err := ParseEndpoint(endpoint)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	raw := tok.Reveal()
	if len(raw) > secret.MaxLen || strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("%s: %w", op, ErrBadToken)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	target := *base
	target.Path = base.Path + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		return fmt.Errorf("%s: build request: %w", op, err)
	}
	req.Header.Set("Accept", "application/json")
	ua := c.UserAgent
	if ua == "" {
		ua = DefaultUserAgent
	}
	req.Header.Set("User-Agent", ua)
	if raw != "" {
		req.Header.Set("Authorization", "Bearer "+raw)
	}

	resp, err := c.httpClient(base).Do(req)
	if err != nil {
		// *url.Error names the URL, which never holds the token; the
		// cleanMessage pass guards against a transport that quotes headers.
		return &transportError{op: op, msg: cleanMessage(err.Error(), raw), err: err}
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.statusError(op, resp, raw, repoRoute)
	}
	limit := c.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fmt.Errorf("%s: read answer: %w", op, err)
	}
	if int64(len(body)) > limit {
		return fmt.Errorf("%s: %w: more than %d bytes", op, ErrBodyTooLarge, limit)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s: %w: decode JSON: %v", op, ErrUnexpected, err)
	}
	return nil
}

// transportError keeps a transport error wrapped, so errors.Is finds
// context.DeadlineExceeded or ErrCrossOriginRedirect, while its text passes
// through cleanMessage.
type transportError struct {
	op, msg string
	err     error
}

func (e *transportError) Error() string { return e.op + ": " + e.msg }
func (e *transportError) Unwrap() error { return e.err }

// statusError builds the typed error for a non-2xx answer.
func (c *Client) statusError(op string, resp *http.Response, token string, repoRoute bool) error {
	// Error bodies are read for their message only; a huge one is cut, not an error.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	msg := resp.Header.Get("X-Error-Message")
	var eb errorBody
	if json.Unmarshal(bytes.TrimSpace(body), &eb) == nil {
		if m := eb.message(); m != "" && !strings.Contains(msg, m) {
			if msg != "" {
				msg += "; "
			}
			msg += m
		}
	}
	code := resp.Header.Get("X-Error-Code")
	he := &HTTPError{
		Op:         op,
		Status:     resp.StatusCode,
		Code:       cleanMessage(code, token),
		Message:    cleanMessage(msg, token),
		RequestID:  cleanMessage(firstHeader(resp.Header, "X-Request-Id", "X-Amzn-Trace-Id"), token),
		StatusText: http.StatusText(resp.StatusCode),
	}
	if len(he.Code) > 64 {
		he.Code = he.Code[:64]
	}
	if len(he.RequestID) > 128 {
		he.RequestID = he.RequestID[:128]
	}
	he.Kind = classify(resp.StatusCode, he.Code, he.Message, repoRoute)
	if he.Kind == ErrRateLimited {
		return rateLimitError(he, resp.Header)
	}
	return he
}

func firstHeader(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}

// httpClient returns a copy of the configured client whose redirect policy
// follows only same-origin redirects (a renamed repo answers with a relative
// Location) and refuses any other. Go itself strips Authorization only when
// the host name changes, not the port or the scheme, so a redirect from
// http://127.0.0.1:1 to http://127.0.0.1:2 would carry the token: the
// policy here compares scheme, host and port.
func (c *Client) httpClient(origin *url.URL) *http.Client {
	var hc http.Client
	if c.HTTP != nil {
		hc = *c.HTTP
	} else {
		hc.Timeout = DefaultTimeout
	}
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		if !sameOrigin(origin, req.URL) {
			req.Header.Del("Authorization")
			return fmt.Errorf("%w: %s://%s", ErrCrossOriginRedirect, req.URL.Scheme, req.URL.Host)
		}
		return nil
	}
	return &hc
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) &&
		strings.EqualFold(a.Hostname(), b.Hostname()) &&
		port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}
