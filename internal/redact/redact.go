// Package redact shows a token without giving it away, and keeps quoted text
// to one line. It is a leaf with no
// crypto (internal/secret, which fingerprints tokens, links the crypto
// packages), so that the git credential codec and the hfbroker front end can
// quote a token's kind without initialising them (issue 16).
package redact

import "strings"

// Mask shows a token's kind and last four characters: "hf_…abcd". Short or
// prefix-less values show less, never more than four characters of the secret.
func Mask(s string) string {
	if s == "" {
		return ""
	}
	prefix := ""
	for _, p := range []string{"hf_oauth_", "hf_jwt_", "api_org_", "hf_", "api_"} {
		if strings.HasPrefix(s, p) {
			prefix = p
			break
		}
	}
	rest := s[len(prefix):]
	if len(rest) < 12 {
		return prefix + "…"
	}
	return prefix + "…" + rest[len(rest)-4:]
}

// OneLine keeps text to one line (control characters become spaces), so
// that nothing an error quotes can forge output: a second "hfbroker: hint:"
// line, a git credential answer.
func OneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r < ' ' && r != '\t' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
