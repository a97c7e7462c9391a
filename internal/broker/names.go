package broker

import (
	"fmt"
	"strings"
)

// MaxNameLen bounds profile names: they are keychain item names, file-safe
// words and table cells.
const MaxNameLen = 64

// CheckName reports whether name can be a profile name: letters, digits and
// "-_.@", at most 64 characters, starting with a letter or digit. Slashes,
// "..", spaces and control characters are refused so a name can never become
// a path or a second keychain attribute.
func CheckName(name string) error {
	const hint = "use letters, digits and - _ . @, e.g. 'acme-ci'"
	switch {
	case name == "":
		return errorf(KindInvalid, hint, "profile name is empty")
	case len(name) > MaxNameLen:
		return errorf(KindInvalid, hint, "profile name is longer than %d characters", MaxNameLen)
	case strings.Contains(name, ".."):
		return errorf(KindInvalid, hint, "profile name %q contains '..'", name)
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if i > 0 {
			ok = ok || r == '-' || r == '_' || r == '.' || r == '@'
		}
		if !ok {
			return errorf(KindInvalid, hint, "profile name %s contains %s", quoteName(name), describeRune(r))
		}
	}
	return nil
}

func quoteName(s string) string { return fmt.Sprintf("%q", s) }

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
	return fmt.Sprintf("%q", r)
}

// sanitizeName makes a Hub display name usable as a profile name, or returns
// "" when nothing usable is left.
func sanitizeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.', r == '@':
			b.WriteRune(r)
		case r == ' ' || r == '/':
			b.WriteRune('-')
		}
		if b.Len() >= MaxNameLen {
			break
		}
	}
	out := strings.Trim(b.String(), "-_.@")
	for strings.Contains(out, "..") {
		out = strings.ReplaceAll(out, "..", ".")
	}
	if CheckName(out) != nil {
		return ""
	}
	return out
}
