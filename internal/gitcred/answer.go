package gitcred

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// ErrBadAnswer is matched (errors.Is) when an answer cannot be written
// safely. Its text names the field, never the value.
var ErrBadAnswer = errors.New("git credential answer is unsafe to write")

// Answer is what a helper tells git for a get request.
type Answer struct {
	Username string
	Password string
	// PasswordExpiry is sent as password_expiry_utc when set, so git ≥ 2.40
	// neither reuses nor stores (credential_approve) the password after the
	// lease ends. The zero time sends nothing.
	PasswordExpiry time.Time
}

// WriteAnswer writes username=, password= and optionally password_expiry_utc=
// and nothing else: a helper must not override any other attribute. Each
// value is checked first; a value with LF, CR or NUL (say a corrupted keychain
// entry "hf_x\nhost=evil") would add attributes of its own choosing to git's
// view (CVE-2020-5260, CVE-2024-52006). On error nothing has been written.
func WriteAnswer(w io.Writer, a Answer) error {
	var buf bytes.Buffer
	put := func(key, value string) error {
		switch {
		case value == "":
			return fmt.Errorf("%w: %s is empty", ErrBadAnswer, key)
		case strings.ContainsAny(value, "\n\r\x00"):
			return fmt.Errorf("%w: %s contains a line feed, carriage return or NUL", ErrBadAnswer, key)
		case len(key)+1+len(value)+1 > MaxLineBytes:
			return fmt.Errorf("%w: %s is longer than git accepts", ErrBadAnswer, key)
		}
		buf.WriteString(key)
		buf.WriteByte('=')
		buf.WriteString(value)
		buf.WriteByte('\n')
		return nil
	}
	// Git prompts for a missing user name even when a password came back,
	// which with GIT_TERMINAL_PROMPT=0 fails the fetch, so both are required.
	if err := put("username", a.Username); err != nil {
		return err
	}
	if err := put("password", a.Password); err != nil {
		return err
	}
	if !a.PasswordExpiry.IsZero() {
		sec := a.PasswordExpiry.Unix()
		if sec <= 0 {
			// Git reads 0 (and garbage) as "never expires".
			return fmt.Errorf("%w: password expiry is not after 1970", ErrBadAnswer)
		}
		if err := put("password_expiry_utc", strconv.FormatInt(sec, 10)); err != nil {
			return err
		}
	}
	// Everything was checked before this single write, so a refused value
	// can never leave the attributes before it on git's stdin.
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write git credential answer: %w", err)
	}
	return nil
}
