// Package secret holds the Token type, which redacts itself wherever it is
// printed, logged or marshalled, and the checks every token passes before the
// broker stores it.
package secret

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/hfbroker/hfbroker/internal/redact"
)

// MaxLen bounds a token's length. Hugging Face tokens are 37 bytes; OAuth and
// JWT-shaped tokens are longer, but nothing legitimate comes near this.
const MaxLen = 4096

// Token is a Hugging Face token. Its String, GoString, LogValue and MarshalText
// all redact, so a Token that reaches fmt, slog or encoding/json by mistake
// shows as "hf_…abcd". Convert with Reveal only at the last boundary: the child
// environment, the git helper's answer, an HTTP header.
type Token string

// Reveal returns the raw token. Call it only where the token must leave the
// process.
func (t Token) Reveal() string { return string(t) }

// String implements fmt.Stringer with the masked form.
func (t Token) String() string { return Mask(string(t)) }

// GoString implements fmt.GoStringer with the masked form, for %#v.
func (t Token) GoString() string { return fmt.Sprintf("secret.Token(%q)", Mask(string(t))) }

// LogValue implements slog.LogValuer with the masked form.
func (t Token) LogValue() slog.Value { return slog.StringValue(Mask(string(t))) }

// MarshalText implements encoding.TextMarshaler with the masked form, so JSON
// and text encoders redact a Token even inside a struct.
func (t Token) MarshalText() ([]byte, error) { return []byte(Mask(string(t))), nil }

// Format implements fmt.Formatter so that every verb, %s %v %q %x %d included,
// prints the masked form.
func (t Token) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, t.GoString())
		return
	}
	fmt.Fprint(f, Mask(string(t)))
}

// Fingerprint returns the first 8 hex digits of the token's SHA-256: enough to
// tell tokens apart in lists and audit logs, useless for recovering one.
func (t Token) Fingerprint() string { return Fingerprint(string(t)) }

// Fingerprint returns the first 8 hex digits of s's SHA-256.
func Fingerprint(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}

// Mask shows a token's kind and last four characters: "hf_…abcd" (the rule
// lives in internal/redact, a leaf without crypto).
func Mask(s string) string { return redact.Mask(s) }

// Errors returned by Check. Their text never includes the token.
var (
	ErrEmpty       = errors.New("the token is empty")
	ErrTooLong     = fmt.Errorf("the token is longer than %d bytes", MaxLen)
	ErrWhitespace  = errors.New("the token contains whitespace or control characters")
	ErrNotUTF8     = errors.New("the token is not valid UTF-8")
	ErrOrgToken    = errors.New("You must use your personal account token, not an organization token.")
	ErrNotHFPrefix = errors.New("the token does not look like a Hugging Face token (hf_…)")
)

// Check reports whether s can be stored as a token. It accepts every hf_ form
// (classic hf_ plus 34 characters, hf_oauth_, hf_jwt_) and legacy api_ user
// tokens, and refuses legacy organization tokens as huggingface_hub does.
func Check(s string) error {
	switch {
	case s == "":
		return ErrEmpty
	case len(s) > MaxLen:
		return ErrTooLong
	case !utf8.ValidString(s):
		return ErrNotUTF8
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == '\u2028' || r == '\u2029' || r == '\u00a0' {
			return ErrWhitespace
		}
	}
	switch {
	case strings.HasPrefix(s, "api_org_"):
		return ErrOrgToken
	case strings.HasPrefix(s, "hf_"), strings.HasPrefix(s, "api_"):
		return nil
	}
	return ErrNotHFPrefix
}
