package broker

import (
	"strings"

	"github.com/hfbroker/hfbroker/internal/profilename"
)

// MaxNameLen bounds profile names (profilename.MaxLen).
const MaxNameLen = profilename.MaxLen

// CheckName reports whether name can be a profile name (profilename.Check),
// as a KindInvalid error with a hint.
func CheckName(name string) error {
	if err := profilename.Check(name); err != nil {
		return &Error{Kind: KindInvalid, Msg: err.Error(), Hint: profilename.Hint}
	}
	return nil
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
