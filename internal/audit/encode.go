package audit

import (
	"encoding/json"
	"strconv"
)

// appendEvent appends ev as encoding/json marshals it (the same bytes:
// TestEncodeMatchesJSON and FuzzEncodeMatchesJSON hold it to that), without
// reflection: every lease writes one line when granted and one when it ends,
// and json.Marshal was most of the cost of a line (issue 16). A field change
// in Event needs the same change here; the tests fail until it is made.
func appendEvent(b []byte, ev *Event) ([]byte, error) {
	// MarshalJSON's bytes (RFC 3339 with nanoseconds, quoted), appended
	// in place rather than allocated.
	b = append(b, `{"time":"`...)
	b, err := ev.Time.AppendText(b)
	if err != nil {
		return nil, err
	}
	b = append(b, '"')
	b = appendField(b, `,"event":`, ev.Event, true)
	b = appendField(b, `,"profile":`, ev.Profile, false)
	b = appendField(b, `,"fingerprint":`, ev.Fingerprint, false)
	b = appendField(b, `,"repo":`, ev.Repo, false)
	b = appendField(b, `,"access":`, ev.Access, false)
	b = appendField(b, `,"purpose":`, ev.Purpose, false)
	b = appendField(b, `,"lease_id":`, ev.LeaseID, false)
	b = appendField(b, `,"reason":`, ev.Reason, false)
	b = appendField(b, `,"cause":`, ev.Cause, false)
	b = append(b, `,"uid":`...)
	b = strconv.AppendInt(b, int64(ev.UID), 10)
	b = appendInt(b, `,"pid":`, int64(ev.PID))
	b = appendField(b, `,"exe":`, ev.Exe, false)
	b = appendField(b, `,"cwd":`, ev.Cwd, false)
	b = appendField(b, `,"forward":`, ev.Forward, false)
	b = appendField(b, `,"label":`, ev.Label, false)
	b = appendField(b, `,"method":`, ev.Method, false)
	b = appendField(b, `,"path":`, ev.Path, false)
	b = appendInt(b, `,"status":`, int64(ev.Status))
	b = appendInt(b, `,"bytes":`, ev.Bytes)
	b = appendInt(b, `,"count":`, ev.Count)
	return append(b, '}'), nil
}

// appendField appends key and s as a JSON string; an empty s is omitted
// unless always (omitempty).
func appendField(b []byte, key, s string, always bool) []byte {
	if s == "" && !always {
		return b
	}
	b = append(b, key...)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			// Escapes, HTML-safe escapes and UTF-8 checks as
			// encoding/json has them: let it do the rare string.
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendInt appends key and n unless n is 0 (omitempty).
func appendInt(b []byte, key string, n int64) []byte {
	if n == 0 {
		return b
	}
	b = append(b, key...)
	return strconv.AppendInt(b, n, 10)
}

// hasTokenShape reports whether b holds hf_ (or hf_oauth_, hf_jwt_) followed
// by 30 or more ASCII letters and digits: what the tokenShaped expression
// matches (TestHasTokenShapeMatchesTheExpression), without a regexp.
func hasTokenShape(b []byte) bool {
	for i := 0; i+3 <= len(b); i++ {
		if tokenShapeAt(b[i:]) > 0 {
			return true
		}
	}
	return false
}

// tokenShapeAt is the length of the token-shaped run s starts with, or 0.
func tokenShapeAt[T ~string | ~[]byte](s T) int {
	if len(s) < 3 || s[0] != 'h' || s[1] != 'f' || s[2] != '_' {
		return 0
	}
	rest := s[3:]
	if n := alnumRun(rest); n >= 30 {
		return 3 + n
	}
	for _, p := range []string{"oauth_", "jwt_"} {
		if len(rest) >= len(p) && string(rest[:len(p)]) == p {
			if n := alnumRun(rest[len(p):]); n >= 30 {
				return 3 + len(p) + n
			}
		}
	}
	return 0
}

// alnumRun is how many ASCII letters and digits b starts with.
func alnumRun[T ~string | ~[]byte](b T) int {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return i
		}
	}
	return len(b)
}
