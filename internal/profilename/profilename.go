// Package profilename is the one rule for what a profile name may be,
// shared by the broker (which enforces it) and the CLI (which checks a name
// the user typed before asking the daemon, so a typo is a usage error).
package profilename

import (
	"errors"
	"strconv"
	"strings"
)

// MaxLen bounds profile names: they are keychain item names, file-safe
// words and table cells.
const MaxLen = 64

// Hint is what to tell someone whose name Check refused.
const Hint = "use letters, digits and - _ . @, e.g. 'acme-ci'"

// Check reports whether name can be a profile name: letters, digits and
// "-_.@", at most 64 characters, starting with a letter or digit. Slashes,
// "..", spaces and control characters are refused so a name can never become
// a path or a second keychain attribute.
func Check(name string) error {
	switch {
	case name == "":
		return errors.New("profile name is empty")
	case len(name) > MaxLen:
		return errors.New("profile name is longer than " + strconv.Itoa(MaxLen) + " characters")
	case strings.Contains(name, ".."):
		return errors.New("profile name " + strconv.Quote(name) + " contains '..'")
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if i > 0 {
			ok = ok || r == '-' || r == '_' || r == '.' || r == '@'
		}
		if !ok {
			return errors.New("profile name " + strconv.Quote(name) + " contains " + describeRune(r))
		}
	}
	return nil
}

func describeRune(r rune) string {
	switch r {
	case ' ':
		return "a space"
	case '/':
		return "a '/'"
	case '\\':
		return "a '\\'"
	}
	if r < ' ' || r == 0x7f {
		return "a control character"
	}
	return strconv.QuoteRune(r)
}
