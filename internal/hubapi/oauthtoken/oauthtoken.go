// Package oauthtoken holds the token answer of the Hub's POST /oauth/token:
// apart from internal/hubapi because it holds secrets (internal/secret), and
// hubapi's rules are linked by the hfbroker front end, which links no
// secret handling of its own (cmd/hfbroker/deps_test.go).
package oauthtoken

import (
	"time"

	"github.com/hfbroker/hfbroker/internal/secret"
)

// Token is a token answer of POST /oauth/token.
type Token struct {
	Access  secret.Token
	Refresh secret.Token // empty: the Hub kept the old refresh token
	// ExpiresAt is when Access stops working; zero when the Hub did not say.
	ExpiresAt time.Time
	TokenType string
}
