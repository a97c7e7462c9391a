package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hfbroker/hfbroker/internal/hubapi"
	"github.com/hfbroker/hfbroker/internal/hubapi/oauthtoken"
	"github.com/hfbroker/hfbroker/internal/secret"
)

// The OAuth answers and errors live in hubapi (no net/http); these are
// their names here.
const (
	DefaultOAuthClientID = hubapi.DefaultOAuthClientID
	OAuthPending         = hubapi.OAuthPending
	OAuthSlowDown        = hubapi.OAuthSlowDown
	OAuthExpiredToken    = hubapi.OAuthExpiredToken
	OAuthAccessDenied    = hubapi.OAuthAccessDenied
	OAuthInvalidGrant    = hubapi.OAuthInvalidGrant
)

// ErrOAuthTransient: the token endpoint gave no OAuth answer.
var ErrOAuthTransient = hubapi.ErrOAuthTransient

type (
	OAuthError = hubapi.OAuthError
	DeviceCode = hubapi.DeviceCode
	OAuthToken = oauthtoken.Token
)

// IsOAuthError reports whether err is an OAuth error answer with this code.
func IsOAuthError(err error, code string) bool { return hubapi.IsOAuthError(err, code) }

// OAuthClientID is the client id for device login and refresh: env
// HF_DEVICE_CODE_OAUTH_CLIENT_ID, else the configured one, else the default.
func OAuthClientID(env, configured string) string { return hubapi.OAuthClientID(env, configured) }

// OAuth grant types (RFC 8628 §3.4, RFC 6749 §6).
const (
	GrantDeviceCode   = "urn:ietf:params:oauth:grant-type:device_code"
	GrantRefreshToken = "refresh_token"
)

// tokenAnswer is the wire form of a token or error answer.
type tokenAnswer struct {
	AccessToken      string `json:"access_token"`
	RefreshToken     string `json:"refresh_token"`
	ExpiresIn        int64  `json:"expires_in"`
	TokenType        string `json:"token_type"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// StartDevice asks the Hub for a device code (RFC 8628 §3.1).
func (c *Client) StartDevice(ctx context.Context, endpoint, clientID string) (*DeviceCode, error) {
	var dc DeviceCode
	status, body, err := c.postForm(ctx, "device login", endpoint, "/oauth/device", url.Values{"client_id": {clientID}})
	if err != nil {
		return nil, err
	}
	if status < 200 || status > 299 {
		if oe := oauthError("device login", body, ""); oe != nil {
			return nil, oe
		}
		return nil, fmt.Errorf("device login: %w: status %d", ErrUnexpected, status)
	}
	if err := json.Unmarshal(body, &dc); err != nil || dc.DeviceCode == "" || dc.UserCode == "" || dc.VerificationURI == "" {
		return nil, fmt.Errorf("device login: %w: no device code in the answer", ErrUnexpected)
	}
	if dc.Interval <= 0 {
		dc.Interval = 5
	}
	if dc.ExpiresIn <= 0 {
		dc.ExpiresIn = 900
	}
	if dc.VerificationURIComplete == "" {
		dc.VerificationURIComplete = dc.VerificationURI
	}
	return &dc, nil
}

// PollDevice asks once whether the user approved the device code. It returns
// an *OAuthError (authorization_pending, slow_down, expired_token,
// access_denied, …) or ErrOAuthTransient when there is no answer yet.
func (c *Client) PollDevice(ctx context.Context, endpoint, clientID, deviceCode string, now time.Time) (*OAuthToken, error) {
	return c.tokenRequest(ctx, "device login", endpoint, url.Values{
		"grant_type": {GrantDeviceCode}, "device_code": {deviceCode}, "client_id": {clientID}}, now)
}

// Refresh exchanges a refresh token for a new access token (RFC 6749 §6).
// The answer may carry a new refresh token, after which the old one is dead;
// the Hub refuses a dead or revoked one with invalid_grant.
func (c *Client) Refresh(ctx context.Context, endpoint, clientID string, refresh secret.Token, now time.Time) (*OAuthToken, error) {
	return c.tokenRequest(ctx, "refresh", endpoint, url.Values{
		"grant_type": {GrantRefreshToken}, "refresh_token": {refresh.Reveal()}, "client_id": {clientID}}, now)
}

func (c *Client) tokenRequest(ctx context.Context, op, endpoint string, form url.Values, now time.Time) (*OAuthToken, error) {
	status, body, err := c.postForm(ctx, op, endpoint, "/oauth/token", form)
	if err != nil {
		return nil, err
	}
	if status >= 500 {
		return nil, fmt.Errorf("%s: %w (status %d)", op, ErrOAuthTransient, status)
	}
	var a tokenAnswer
	if json.Unmarshal(body, &a) != nil {
		return nil, fmt.Errorf("%s: %w (status %d, not JSON)", op, ErrOAuthTransient, status)
	}
	if a.AccessToken != "" && status >= 200 && status <= 299 {
		if secret.Check(a.AccessToken) != nil || (a.RefreshToken != "" && strings.ContainsFunc(a.RefreshToken, func(r rune) bool { return r <= ' ' || r == 0x7f })) {
			return nil, fmt.Errorf("%s: %w: the token in the answer is malformed", op, ErrUnexpected)
		}
		t := &OAuthToken{Access: secret.Token(a.AccessToken), Refresh: secret.Token(a.RefreshToken), TokenType: a.TokenType}
		if a.ExpiresIn > 0 {
			t.ExpiresAt = now.Add(time.Duration(a.ExpiresIn) * time.Second)
		}
		return t, nil
	}
	if oe := oauthError(op, body, formSecret(form)); oe != nil {
		return nil, oe
	}
	return nil, fmt.Errorf("%s: %w (status %d, no OAuth answer)", op, ErrOAuthTransient, status)
}

// formSecret is the secret a token request carries (refresh token or
// device code), to be cut out of anything the Hub echoes back.
func formSecret(form url.Values) string {
	if v := form.Get("refresh_token"); v != "" {
		return v
	}
	return form.Get("device_code")
}

// oauthError reads an OAuth error body; nil when it is not one. sent is
// cut out of its text: a Hub may quote what it refused.
func oauthError(op string, body []byte, sent string) *OAuthError {
	var a tokenAnswer
	if json.Unmarshal(body, &a) != nil || a.Error == "" {
		return nil
	}
	clip := func(s string, n int) string {
		s = cleanMessage(s, sent)
		if len(s) > n {
			s = s[:n]
		}
		return s
	}
	return &OAuthError{Op: op, Code: clip(a.Error, 64), Description: clip(a.ErrorDescription, 200)}
}

// postForm POSTs a form to the endpoint and returns the status and a
// bounded body. Errors never hold the form (it carries the refresh token).
func (c *Client) postForm(ctx context.Context, op, endpoint, path string, form url.Values) (int, []byte, error) {
	base, err := ParseEndpoint(endpoint)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", op, err)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	target := *base
	target.Path = base.Path + path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, fmt.Errorf("%s: build request: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	ua := c.UserAgent
	if ua == "" {
		ua = DefaultUserAgent
	}
	req.Header.Set("User-Agent", ua)
	hc := c.httpClient(base)
	// A redirect would re-send the form elsewhere, or drop it: refuse all.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %w", ErrOAuthTransient, &transportError{op: op, msg: cleanMessage(err.Error(), formSecret(form)), err: err})
	}
	defer resp.Body.Close()
	limit := c.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w: read answer: %v", op, ErrOAuthTransient, err)
	}
	if int64(len(body)) > limit {
		return 0, nil, fmt.Errorf("%s: %w: more than %d bytes", op, ErrBodyTooLarge, limit)
	}
	return resp.StatusCode, body, nil
}
