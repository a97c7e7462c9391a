// Package gitcred reads and writes the git credential helper protocol.
//
// The parser is deliberately stricter than git's own credential_read: every
// refusal below pins a published attack on a credential helper (see
// security-notes §2.2). A caller that gets an error must answer nothing.
package gitcred

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/hfbroker/hfbroker/internal/redact"
)

// Limits on a request. Git writes a few hundred bytes; anything near these
// is an attack or a bug, and reading it unbounded would let a hostile caller
// make the helper allocate without limit.
const (
	// MaxLineBytes bounds one line including its LF, as git documents
	// (65535 B). A longer line is refused, never split: git's fixed 1024-byte
	// fgets buffer once turned the tail of a long wwwauth[] into a new
	// host= line (git 71201ab0e5).
	MaxLineBytes = 65535
	// MaxLines bounds the number of attribute lines.
	MaxLines = 1000
	// MaxInputBytes bounds the whole request, terminating blank line included.
	MaxInputBytes = 1 << 20
)

// ErrMalformed is matched (errors.Is) by every *ParseError.
var ErrMalformed = errors.New("malformed git credential request")

// ParseError reports why a request was refused. Reason never contains an
// attribute value: values may be passwords, or attacker-chosen bytes meant for
// a terminal.
type ParseError struct {
	Line   int // 1-based line number; 0 when the error is about the whole request
	Reason string
}

func (e *ParseError) Error() string {
	if e.Line == 0 {
		return "git credential request: " + e.Reason
	}
	return fmt.Sprintf("git credential request line %d: %s", e.Line, e.Reason)
}

// Is makes errors.Is(err, ErrMalformed) true for every parse refusal.
func (e *ParseError) Is(target error) bool { return target == ErrMalformed }

// Attr is one attribute line the parser does not interpret.
type Attr struct {
	Key, Value string
}

// Request is a parsed credential request. Single-valued attributes are raw
// strings exactly as sent (empty when absent); Parse has already checked them
// for CR, LF, NUL and UTF-8, and reconciled them with url= when present.
type Request struct {
	Protocol string
	Host     string // host, with ":port" when git sent one
	Path     string // only sent with credential.useHttpPath=true
	Username string
	Password string
	// URL is the raw url= value. Parse derives Protocol, Host, Path,
	// Username and Password from it, so callers need not look at it.
	URL               string
	PasswordExpiryUTC string // unix seconds, as sent; git ≥ 2.40
	OAuthRefreshToken string // git ≥ 2.41; confidential like Password
	AuthType          string // capability-gated (git ≥ 2.46)
	Credential        string // capability-gated pre-encoded credential; confidential
	Ephemeral         string
	Continue          string
	Quit              string

	Capabilities []string // capability[]
	WWWAuth      []string // wwwauth[]: the server's WWW-Authenticate headers
	State        []string // state[]

	// Unknown holds attributes this package does not know, in order.
	// Git silently discards them; so should callers.
	Unknown []Attr
}

// String redacts the confidential fields so a Request that reaches a log by
// mistake does not carry the password.
func (r Request) String() string {
	return fmt.Sprintf("gitcred.Request{protocol=%q host=%q path=%q username=%q password=%q}",
		r.Protocol, r.Host, r.Path, r.Username, redact.Mask(r.Password))
}

// GoString redacts like String, for %#v.
func (r Request) GoString() string { return r.String() }

// singleValued lists the attributes that git accepts once. Git's
// credential_read lets the last one win; a helper that does the same can be
// told host=huggingface.co by one layer and host=evil by another
// (CVE-2020-5260 injected the second line), so a repeat is refused.
var singleValued = map[string]func(*Request) *string{
	"protocol":            func(r *Request) *string { return &r.Protocol },
	"host":                func(r *Request) *string { return &r.Host },
	"path":                func(r *Request) *string { return &r.Path },
	"username":            func(r *Request) *string { return &r.Username },
	"password":            func(r *Request) *string { return &r.Password },
	"url":                 func(r *Request) *string { return &r.URL },
	"password_expiry_utc": func(r *Request) *string { return &r.PasswordExpiryUTC },
	"oauth_refresh_token": func(r *Request) *string { return &r.OAuthRefreshToken },
	"authtype":            func(r *Request) *string { return &r.AuthType },
	"credential":          func(r *Request) *string { return &r.Credential },
	"ephemeral":           func(r *Request) *string { return &r.Ephemeral },
	"continue":            func(r *Request) *string { return &r.Continue },
	"quit":                func(r *Request) *string { return &r.Quit },
}

var multiValued = map[string]func(*Request) *[]string{
	"capability[]": func(r *Request) *[]string { return &r.Capabilities },
	"wwwauth[]":    func(r *Request) *[]string { return &r.WWWAuth },
	"state[]":      func(r *Request) *[]string { return &r.State },
}

// Parse reads one request: LF-separated key=value lines ending at a blank
// line or at EOF. It reads at most MaxInputBytes+1 bytes from r, holds at
// most one line of MaxLineBytes beyond the parsed values, and stops at the
// blank line, so a caller that keeps the pipe open does not block it.
func Parse(r io.Reader) (*Request, error) {
	// The LimitedReader caps what bufio can pull in, whatever the caller's
	// reader does. The buffer is small because real requests are; readLine
	// grows a line past it only up to MaxLineBytes.
	lr := &io.LimitedReader{R: r, N: MaxInputBytes + 1}
	br := bufio.NewReaderSize(lr, 1024)
	req := &Request{}
	seen := make(map[string]bool)
	total, lines := 0, 0
	for n := 1; ; n++ {
		raw, err := readLine(br, &total)
		if err != nil {
			var perr *ParseError
			if errors.As(err, &perr) {
				perr.Line = n
			}
			return nil, err
		}
		line := raw
		hasLF := len(line) > 0 && line[len(line)-1] == '\n'
		if hasLF {
			line = line[:len(line)-1]
		}
		if len(line) == 0 {
			// A blank line ends the request; so does EOF, with or without a
			// final newline (git's credential_read accepts both).
			break
		}
		lines++
		if lines > MaxLines {
			return nil, &ParseError{Line: n, Reason: fmt.Sprintf("request has more than %d lines", MaxLines)}
		}
		if perr := req.parseLine(n, line, seen); perr != nil {
			return nil, perr
		}
		if !hasLF {
			break // EOF after a last line without its newline
		}
	}
	if err := req.reconcileURL(seen["url"]); err != nil {
		return nil, err
	}
	return req, nil
}

// readLine returns the next line with its LF, or without one at EOF (empty
// at EOF). It never holds more than MaxLineBytes of a line, and counts what
// it consumed into *total so the request limit covers partial lines too.
func readLine(br *bufio.Reader, total *int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		*total += len(chunk)
		if *total > MaxInputBytes {
			return nil, &ParseError{Reason: fmt.Sprintf("request is longer than %d bytes", MaxInputBytes)}
		}
		// A line of MaxLineBytes without its LF is too long as well: git's
		// limit counts the LF.
		endsLF := len(chunk) > 0 && chunk[len(chunk)-1] == '\n'
		if n := len(line) + len(chunk); n > MaxLineBytes || (n == MaxLineBytes && !endsLF) {
			return nil, &ParseError{Reason: fmt.Sprintf("line is longer than %d bytes", MaxLineBytes)}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			line = append(line, chunk...)
			continue
		case err != nil && err != io.EOF:
			return nil, fmt.Errorf("read git credential request: %w", err)
		}
		if line == nil {
			return chunk, nil // the common case: no copy
		}
		return append(line, chunk...), nil
	}
}

func (req *Request) parseLine(n int, line []byte, seen map[string]bool) error {
	// CVE-2024-52006, CVE-2024-50338, CVE-2025-23040: readers that treat a
	// lone CR as a line end split one git line into several attributes.
	// Refuse it anywhere rather than strip it; that also refuses CRLF.
	if bytes.IndexByte(line, '\r') >= 0 {
		return &ParseError{Line: n, Reason: "carriage return in line"}
	}
	// NUL truncates C strings in other helpers down the chain.
	if bytes.IndexByte(line, 0) >= 0 {
		return &ParseError{Line: n, Reason: "NUL byte in line"}
	}
	// Values travel on over gRPC as proto3 strings, which must be UTF-8.
	if !utf8.Valid(line) {
		return &ParseError{Line: n, Reason: "line is not valid UTF-8"}
	}
	eq := bytes.IndexByte(line, '=')
	if eq < 0 {
		return &ParseError{Line: n, Reason: "line has no '='"}
	}
	if eq == 0 {
		return &ParseError{Line: n, Reason: "line has an empty key"}
	}
	key, value := string(line[:eq]), string(line[eq+1:])
	if field, ok := singleValued[key]; ok {
		if seen[key] {
			return &ParseError{Line: n, Reason: fmt.Sprintf("duplicate %q attribute", key)}
		}
		seen[key] = true
		*field(req) = value
		return nil
	}
	if list, ok := multiValued[key]; ok {
		if value == "" {
			*list(req) = nil // "key[]=" clears the list, as in git
		} else {
			*list(req) = append(*list(req), value)
		}
		return nil
	}
	if strings.HasSuffix(key, "[]") && value == "" {
		kept := req.Unknown[:0]
		for _, a := range req.Unknown {
			if a.Key != key {
				kept = append(kept, a)
			}
		}
		req.Unknown = kept
		if len(req.Unknown) == 0 {
			req.Unknown = nil
		}
		return nil
	}
	req.Unknown = append(req.Unknown, Attr{Key: key, Value: value})
	return nil
}
