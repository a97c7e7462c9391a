package hubapi

import (
	"errors"
)

// DefaultOAuthClientID is the Hub's public device-login client, the one
// huggingface_hub's `hf auth login` uses (constants.DEVICE_CODE_OAUTH_CLIENT_ID
// in huggingface/huggingface_hub, overridable there and here with
// HF_DEVICE_CODE_OAUTH_CLIENT_ID; see shared/reference/hf-hub-auth.md §3).
// A public client has no secret: the id only names the application.
const DefaultOAuthClientID = "26be6b09-91c5-47da-9861-d2d2bb7a7e36"

// OAuth error codes the device flow and refresh answer with (RFC 8628 §3.5,
// RFC 6749 §5.2).
const (
	OAuthPending      = "authorization_pending"
	OAuthSlowDown     = "slow_down"
	OAuthExpiredToken = "expired_token"
	OAuthAccessDenied = "access_denied"
	OAuthInvalidGrant = "invalid_grant"
)

// ErrOAuthTransient: the token endpoint gave no OAuth answer (a 5xx, a
// gateway page, a network error); the caller may try again.
var ErrOAuthTransient = errors.New("the Hub's token endpoint did not answer")

// OAuthError is an OAuth error answer: {"error": code, "error_description": …}.
type OAuthError struct {
	Op          string
	Code        string
	Description string
}

func (e *OAuthError) Error() string {
	s := e.Op + ": " + e.Code
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// IsOAuthError reports whether err is an OAuth error answer with this code.
func IsOAuthError(err error, code string) bool {
	oe, ok := errors.AsType[*OAuthError](err)
	return ok && oe.Code == code
}

// DeviceCode is the answer of POST /oauth/device.
type DeviceCode struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	// Interval is how long to wait between polls; 5 s when the Hub says nothing.
	Interval int `json:"interval"`
	// ExpiresIn is how long the code stays valid; 900 s when unsaid.
	ExpiresIn int `json:"expires_in"`
}

// OAuthClientID is the client id for device login and refresh: env
// HF_DEVICE_CODE_OAUTH_CLIENT_ID, else the configured one, else the default.
func OAuthClientID(env, configured string) string {
	if env != "" {
		return env
	}
	if configured != "" {
		return configured
	}
	return DefaultOAuthClientID
}
