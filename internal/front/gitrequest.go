//go:build unix

package front

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// gitcred's bounds on a request.
const (
	maxGitLine  = 65535   // gitcred.MaxLineBytes
	maxGitLines = 1000    // gitcred.MaxLines
	maxGitInput = 1 << 20 // gitcred.MaxInputBytes
)

// gitRequest is what the front uses of git's credential request.
type gitRequest struct {
	protocol, host, path, password string
}

// readGitRequest reads git's request from r up to its blank line (or the
// end), and returns it with every byte it read, for the full CLI to read
// again. It accepts what gitcred.Parse accepts, except a url= attribute
// (net/url's to split) or a request gitcred would refuse: those are not ok,
// for the full CLI to judge. FuzzReadGitRequestIsGitcreds holds the two to
// the same answers.
func readGitRequest(r io.Reader) (req gitRequest, read []byte, ok bool) {
	buf := make([]byte, 0, 1024)
	end, next := -1, 0 // next: where the first line not yet seen whole starts
	for end < 0 && len(buf) <= maxGitInput {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		for end < 0 {
			i := bytes.IndexByte(buf[next:], '\n')
			if i < 0 {
				break
			}
			if i == 0 {
				end = next + 1 // the blank line
			}
			next += i + 1
		}
		if err != nil {
			if err != io.EOF {
				return gitRequest{}, buf, false
			}
			break
		}
	}
	if end < 0 {
		end = len(buf)
	}
	if end > maxGitInput {
		return gitRequest{}, buf, false
	}
	req, ok = parseGitRequest(buf[:end])
	return req, buf, ok
}

// gitSingle are gitcred's single-valued attributes: each at most once.
var gitSingle = []string{"protocol", "host", "path", "username", "password", "url",
	"password_expiry_utc", "oauth_refresh_token", "authtype", "credential", "ephemeral", "continue", "quit"}

// parseGitRequest parses the lines of b, which ends at the request's
// blank line or at the input's end.
func parseGitRequest(b []byte) (gitRequest, bool) {
	var req gitRequest
	var seen [16]bool
	lines := 0
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
			if len(line)+1 > maxGitLine {
				return req, false
			}
		} else {
			b = nil
			if len(line) >= maxGitLine {
				return req, false
			}
		}
		if len(line) == 0 {
			break
		}
		if lines++; lines > maxGitLines {
			return req, false
		}
		if bytes.IndexByte(line, '\r') >= 0 || bytes.IndexByte(line, 0) >= 0 || !utf8.Valid(line) {
			return req, false
		}
		key, value, found := strings.Cut(string(line), "=")
		if !found || key == "" {
			return req, false
		}
		for i, k := range gitSingle {
			if k != key {
				continue
			}
			if seen[i] || key == "url" {
				return req, false
			}
			seen[i] = true
			switch key {
			case "protocol":
				req.protocol = value
			case "host":
				req.host = value
			case "path":
				req.path = value
			case "password":
				req.password = value
			}
		}
	}
	return req, true
}

// gitcred's three outcomes of matching a request against the endpoint.
const (
	gitOther   = iota // another host's: answer nothing
	gitOurs           // the endpoint's host, and the repo if git sent a path
	gitRefused        // the endpoint's, but not a repo path: the full CLI's to say
)

// matchGit is gitcred.Match against the endpoint h: the endpoint's host as
// git names it, and the repo git named.
func matchGit(req gitRequest, h hub) (host string, r *repo, outcome int) {
	if req.protocol == "" || req.host == "" || req.protocol != h.scheme {
		return "", nil, gitOther
	}
	want := canonicalHost(h.scheme, h.host)
	if canonicalHost(h.scheme, req.host) != want {
		return "", nil, gitOther
	}
	path := req.path
	if h.prefix != "" && path != "" {
		// gitcred.Match: a Hub served below a path has its repos below it.
		path = strings.Trim(path, "/")
		if path != h.prefix && !strings.HasPrefix(path, h.prefix+"/") {
			return "", nil, gitOther
		}
		path = strings.TrimPrefix(path, h.prefix)
	}
	if path == "" {
		return want, nil, gitOurs
	}
	rp, ok := parseRepoPath(path)
	if !ok {
		return "", nil, gitRefused
	}
	return want, &rp, gitOurs
}

// canonicalHost is gitcred's: lower-case, without the scheme's default port.
func canonicalHost(scheme, host string) string {
	host = lowerASCII(host)
	def := ":443"
	if scheme == "http" {
		def = ":80"
	}
	return strings.TrimSuffix(host, def)
}

// parseRepoPath is gitcred.ParseRepoPath's verdict: the repo of a smart
// HTTP or LFS path ("acme/llm.git/info/lfs/objects/batch").
func parseRepoPath(p string) (repo, bool) {
	p = strings.Trim(p, "/")
	if i := strings.Index(p, "/info/lfs"); i >= 0 {
		p = p[:i]
	}
	for _, s := range []string{"/info/refs", "/git-upload-pack", "/git-receive-pack"} {
		p = strings.TrimSuffix(p, s)
	}
	p = strings.TrimSuffix(p, ".git")
	if parts := strings.Split(p, "/"); len(parts) == 2 && (parts[0] == "models" || parts[0] == "datasets" || parts[0] == "spaces") {
		return repo{}, false
	}
	return parseRepo(p)
}

// gitAnswer is gitcred.WriteAnswer's text for username, password and an
// expiry (zero: none), or its error's.
func gitAnswer(username, password string, expiry time.Time) ([]byte, string) {
	var b []byte
	put := func(key, value string) string {
		switch {
		case value == "":
			return key + " is empty"
		case strings.ContainsAny(value, "\n\r\x00"):
			return key + " contains a line feed, carriage return or NUL"
		case len(key)+1+len(value)+1 > maxGitLine:
			return key + " is longer than git accepts"
		}
		b = append(append(append(append(b, key...), '='), value...), '\n')
		return ""
	}
	const bad = "git credential answer is unsafe to write: "
	if e := put("username", username); e != "" {
		return nil, bad + e
	}
	if e := put("password", password); e != "" {
		return nil, bad + e
	}
	if !expiry.IsZero() {
		sec := expiry.Unix()
		if sec <= 0 {
			return nil, bad + "password expiry is not after 1970"
		}
		if e := put("password_expiry_utc", strconv.FormatInt(sec, 10)); e != "" {
			return nil, bad + e
		}
	}
	return b, ""
}
