package scan

import (
	"bytes"
	"fmt"

	"github.com/hfbroker/hfbroker/internal/secret"
)

// Kinds of token Find reports.
const (
	KindHF      = "hf"       // classic user access token: hf_ + 34 characters
	KindHFOAuth = "hf_oauth" // OAuth access token from device login or a Sign-in-with-HF app
	KindHFJWT   = "hf_jwt"   // Trusted Publisher (OIDC exchange) token
	KindAPIOrg  = "api_org"  // legacy organization API token
	KindAPI     = "api"      // very old user token
)

const (
	classicBodyLen = 34
	// minOpaqueBodyLen is the shortest body accepted after hf_oauth_ and
	// hf_jwt_, whose lengths are not documented. Twenty characters keeps
	// "hf_oauth_client_id"-style identifiers and doc placeholders out while
	// anything random enough to be a credential gets in.
	minOpaqueBodyLen = 20
)

// Match is one token found in a byte slice. Offsets are byte offsets; Line and
// Col are 1-based, Col counting bytes.
type Match struct {
	Offset int // first byte of the token
	End    int // one past its last byte
	Line   int
	Col    int
	Kind   string
	Token  secret.Token
}

// String shows the position, kind and masked token, never the token itself.
func (m Match) String() string {
	return fmt.Sprintf("%d:%d: %s token %s", m.Line, m.Col, m.Kind, m.Token)
}

// Find returns every token in data, in order of appearance.
//
// It looks for hf_ + 34 letters or digits, hf_oauth_…, hf_jwt_…, api_org_ +
// 34 letters and api_ + 34 letters, each standing alone: the byte before it
// and the byte after it must not be a letter, digit or underscore, so
// "my_hf_…" or a 35-character body never match. A letter right after a
// backslash counts as a boundary, because "\nhf_…" in JSON or a string
// literal is an escaped newline followed by a token.
//
// To keep hashes, identifiers and placeholders out, a fixed-length body must
// mix upper- and lower-case letters. Real tokens are random mixed-case
// letters, so one lacks either case with probability about 2^-33; hex digests
// and UUIDs are single-case, and the "hf_xxxx…" placeholder Hugging Face's
// own docs use is not reported.
func Find(data []byte) []Match {
	var out []Match
	var lines *lineIndex // built on the first match: most inputs have none
	for i := 0; i < len(data); {
		// Every kind starts with "hf_" or "api_"; jump between candidates
		// with IndexByte on '_' to keep the scan linear and cheap.
		j := bytes.IndexByte(data[i:], '_')
		if j < 0 {
			break
		}
		us := i + j
		i = us + 1
		var start int
		switch {
		case us >= 2 && data[us-2] == 'h' && data[us-1] == 'f':
			start = us - 2
		case us >= 3 && data[us-3] == 'a' && data[us-2] == 'p' && data[us-1] == 'i':
			start = us - 3
		default:
			continue
		}
		if !leftBoundary(data, start) {
			continue
		}
		kind, end := matchAt(data, start)
		if kind == "" {
			continue
		}
		if lines == nil {
			lines = newLineIndex(data)
		}
		line, col := lines.position(start)
		out = append(out, Match{
			Offset: start, End: end, Line: line, Col: col,
			Kind: kind, Token: secret.Token(data[start:end]),
		})
		i = end
	}
	return out
}

// matchAt reports the kind and end of a token starting at data[start], which
// begins with "hf_" or "api_" and has a left boundary.
func matchAt(data []byte, start int) (kind string, end int) {
	rest := data[start:]
	switch {
	case bytes.HasPrefix(rest, []byte("hf_oauth_")):
		if e, ok := opaqueBody(data, start+len("hf_oauth_"), isAlnum); ok {
			return KindHFOAuth, e
		}
		// "hf_oauth" + "_" + 26 letters is also a classic body shape, but
		// the underscore rules that out; nothing else to try.
		return "", 0
	case bytes.HasPrefix(rest, []byte("hf_jwt_")):
		if e, ok := opaqueBody(data, start+len("hf_jwt_"), isJWTByte); ok {
			return KindHFJWT, e
		}
		return "", 0
	case bytes.HasPrefix(rest, []byte("hf_")):
		if e, ok := fixedBody(data, start+3, isAlnum); ok {
			return KindHF, e
		}
	case bytes.HasPrefix(rest, []byte("api_org_")):
		if e, ok := fixedBody(data, start+8, isLetter); ok {
			return KindAPIOrg, e
		}
	case bytes.HasPrefix(rest, []byte("api_")):
		if e, ok := fixedBody(data, start+4, isLetter); ok {
			return KindAPI, e
		}
	}
	return "", 0
}

// fixedBody accepts exactly 34 bytes of class, a right boundary, and both
// letter cases.
func fixedBody(data []byte, from int, class func(byte) bool) (int, bool) {
	end := from + classicBodyLen
	if end > len(data) {
		return 0, false
	}
	upper, lower := false, false
	for _, c := range data[from:end] {
		if !class(c) {
			return 0, false
		}
		upper = upper || ('A' <= c && c <= 'Z')
		lower = lower || ('a' <= c && c <= 'z')
	}
	if !upper || !lower || !rightBoundary(data, end) {
		return 0, false
	}
	return end, true
}

// opaqueBody accepts a run of class bytes of at least minOpaqueBodyLen and at
// most secret.MaxLen. Trailing dots are sentence punctuation, not token.
func opaqueBody(data []byte, from int, class func(byte) bool) (int, bool) {
	end := from
	for end < len(data) && class(data[end]) {
		end++
	}
	for end > from && data[end-1] == '.' {
		end--
	}
	if end-from < minOpaqueBodyLen || end-from > secret.MaxLen || !rightBoundary(data, end) {
		return 0, false
	}
	return end, true
}

func leftBoundary(data []byte, start int) bool {
	if start == 0 || !isWord(data[start-1]) {
		return true
	}
	// "\n", "\t", "\r" and friends: an escape letter is not part of a word.
	return start >= 2 && data[start-2] == '\\' && isLetter(data[start-1])
}

func rightBoundary(data []byte, end int) bool {
	return end == len(data) || !isWord(data[end])
}

func isLetter(c byte) bool { return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }
func isAlnum(c byte) bool  { return isLetter(c) || ('0' <= c && c <= '9') }
func isWord(c byte) bool   { return isAlnum(c) || c == '_' }

// isJWTByte admits base64url and the dots between JWT segments. The
// underscore is base64url, so an hf_jwt_ token ends at the first byte outside
// this set rather than at a word boundary.
func isJWTByte(c byte) bool { return isAlnum(c) || c == '_' || c == '-' || c == '.' }

// lineIndex turns byte offsets into 1-based line and column numbers.
type lineIndex struct{ starts []int }

func newLineIndex(data []byte) *lineIndex {
	starts := []int{0}
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return &lineIndex{starts: starts}
}

func (l *lineIndex) position(off int) (line, col int) {
	lo, hi := 0, len(l.starts)
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if l.starts[mid] <= off {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo + 1, off - l.starts[lo] + 1
}
