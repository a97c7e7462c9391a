package proxy

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/hfbroker/hfbroker/internal/hub"
	"github.com/hfbroker/hfbroker/internal/hubapi"
)

// routeKind is what a request path addresses on the Hub.
type routeKind uint8

const (
	// routeWhoami is GET /api/whoami-v2: every client calls it first, and it
	// names the user, never a repo.
	routeWhoami routeKind = iota + 1
	// routeList is /api/{models,datasets,spaces} (search and listing). It can
	// show the names of the user's other private repos, so only a lease for
	// any repo may use it.
	routeList
	// routeRepoAPI is /api/{type}s/NS/NAME and everything below it.
	routeRepoAPI
	// routeResolve is /NS/NAME/resolve/REV/FILE (and the datasets/ and
	// spaces/ forms): file downloads.
	routeResolve
	// routeResolveCache is /api/resolve-cache/{type}s/NS/NAME/REV/FILE: the
	// Hub redirects small-file downloads there with a relative Location that
	// clients follow with their token, so it is a download like resolve.
	routeResolveCache
	// routeLFS is /NS/NAME.git/info/lfs/… (and the datasets/ and spaces/
	// forms): the LFS batch, verify and locks API.
	routeLFS
	// routeGit is git's smart HTTP below /NS/NAME.git or /NS/NAME (and the
	// datasets/ and spaces/ forms): GET info/refs?service=S, the discovery,
	// and POST git-upload-pack (fetch) or git-receive-pack (push).
	routeGit
	// routeCompletion is a multipart completion URL the proxy handed out
	// in an LFS batch answer (multipart.go); parseRoute never returns it.
	routeCompletion
)

// The two git services. A fetch is upload-pack, a push receive-pack: the
// Hub asks for write access at receive-pack's discovery already, and so
// does the proxy (a read lease must not learn it could push either).
const (
	gitUploadPack  = "git-upload-pack"
	gitReceivePack = "git-receive-pack"
)

// route is a parsed, checked request path.
type route struct {
	kind routeKind
	repo hub.RepoRef
	// rest holds the escaped segments after the repo (after "NAME.git" for
	// LFS and git), e.g. ["revision","main"] or ["info","lfs","objects","batch"].
	rest []string
	// service is the git service of a routeGit, gitUploadPack or
	// gitReceivePack: from the path for a POST, from the query for
	// info/refs (parseRequest).
	service string
}

// errPath is wrapped by every error parseRoute returns; its text is what the
// client sees after "path not allowed through the hfbroker proxy: ".
var errPath = errors.New("path not allowed through the hfbroker proxy")

// maxPathLen bounds the paths the proxy parses; the server's MaxHeaderBytes
// bounds them too, this keeps error messages and audit lines short.
const maxPathLen = 8 << 10

// parseRoute checks an escaped request path (URL.EscapedPath, exactly what
// is forwarded upstream) and says which Hub route it addresses. It is the one
// place the proxy reads a path: every rule below is about making what is
// checked here the same path the Hub routes, whichever way a server decodes
// it.
//
// Rules, chosen so that what is checked is what the Hub will route:
//   - The path is matched segment by segment. The segments that name the
//     repo (type, namespace, name) must be plain [A-Za-z0-9._-]: a
//     percent-encoded repo segment is refused, so "acm%65" can never be
//     matched as one repo here and routed as another upstream.
//   - Every segment the decision reads as a word (api, models, resolve,
//     info, lfs, objects, batch, and the sub-route after a repo such as
//     settings or xet-write-token) must be a plain word, [A-Za-z0-9_-], and
//     is compared without regard to case. The Hub's router ignores case
//     (…/SETTINGS is the settings route), and a word with an escape, a dot
//     or an encoded slash ("settings%2F", "settings.json") could be one
//     word here and another to a server that decodes or strips suffixes.
//   - A percent-encoding of an unreserved character (a letter, a digit,
//     "-", ".", "_", "~") is refused anywhere: no client sends one (Python's
//     quote, JavaScript's encodeURIComponent and Go's PathEscape all leave
//     them alone), and "%73ettings" is "settings" to the Hub.
//   - A decoded segment may not itself hold a percent-encoding ("%2573" is
//     double encoding: one more decoding on the way would change the path).
//   - A percent-encoded slash (%2F) is allowed only in value segments after
//     the repo and its sub-route word, because huggingface_hub quotes
//     revisions with safe="" and sends PR refs as "refs%2Fpr%2F1". It cannot
//     move a request to another repo or route: those were fixed by the plain
//     segments before it.
//   - No segment, decoded, may be "." or "..", nor contain such a part
//     between "/" or "\" (so "..%2F..%2Fother" is refused too), nor control
//     characters or NUL. Empty segments ("//") are refused except a single
//     trailing slash.
//   - The namespace and name are compared case-insensitively by the lease
//     check (the Hub treats repo ids so) but are never rewritten: the path
//     is forwarded byte for byte as it was checked.
func parseRoute(escaped string) (route, error) {
	return parseRequest(escaped, "")
}

// parseRequest is parseRoute for a whole request target: the escaped path
// and the raw query. The query matters to git's routes only, where it names
// the service, and is read as strictly as the path:
//   - info/refs takes exactly "service=git-upload-pack" or
//     "service=git-receive-pack", byte for byte, which is all git sends. No
//     second parameter, no repeated "service" and no encoding: servers
//     disagree on which of two values wins, and one that decodes
//     "git%2Dreceive-pack" would route a push the proxy read as something
//     else. Without a service it is git's dumb protocol, which the Hub does
//     not serve.
//   - The POST routes take no query at all: the service is the path's last
//     segment, so "git-upload-pack?service=git-receive-pack" is refused
//     rather than read one way here and maybe another upstream.
//
// The query of every other route is forwarded as it is and decides nothing.
func parseRequest(escaped, rawQuery string) (route, error) {
	segs, err := checkPath(escaped)
	if err != nil {
		return route{}, err
	}
	rt, ok := matchRoute(segs)
	if !ok {
		return route{}, fmt.Errorf("%w: %s", errPath, clip(escaped))
	}
	if rt.kind == routeGit {
		if rt.service, err = gitService(rt.rest, rawQuery); err != nil {
			return route{}, fmt.Errorf("%w: %s: %v", errPath, clip(escaped), err)
		}
	}
	return rt, nil
}

// kindOf is the kind of route a path addresses, 0 for none, before its query
// and lease are checked: it chooses the shape of a refusal (git's or the
// Hub API's), nothing else.
func kindOf(escaped string) routeKind {
	segs, err := checkPath(escaped)
	if err != nil {
		return 0
	}
	rt, _ := matchRoute(segs)
	return rt.kind
}

// gitService reads the service of a git route (see parseRequest).
func gitService(rest []string, rawQuery string) (string, error) {
	if len(rest) == 1 { // POST …/git-upload-pack or …/git-receive-pack
		if rawQuery != "" {
			return "", errors.New("a git service takes no query")
		}
		return strings.ToLower(rest[0]), nil
	}
	svc, ok := strings.CutPrefix(rawQuery, "service=")
	if !ok {
		return "", errors.New("info/refs needs ?service=git-upload-pack or ?service=git-receive-pack (git's dumb protocol is not served)")
	}
	if svc != gitUploadPack && svc != gitReceivePack {
		return "", fmt.Errorf("unknown git service query %q", clip(rawQuery))
	}
	return svc, nil
}

// isGitRest reports whether the segments after a repo are one of git's
// smart-HTTP routes: info/refs, git-upload-pack or git-receive-pack.
func isGitRest(rest []string) bool {
	switch len(rest) {
	case 1:
		return isWord(rest[0], gitUploadPack) || isWord(rest[0], gitReceivePack)
	case 2:
		return isWord(rest[0], "info") && isWord(rest[1], "refs")
	}
	return false
}

// checkPath splits an escaped path into its segments and applies the
// per-segment rules of parseRoute to each.
func checkPath(escaped string) ([]string, error) {
	if len(escaped) > maxPathLen {
		return nil, fmt.Errorf("%w: the path is longer than %d bytes", errPath, maxPathLen)
	}
	if !strings.HasPrefix(escaped, "/") {
		return nil, fmt.Errorf("%w: %s", errPath, clip(escaped))
	}
	segs := strings.Split(escaped[1:], "/")
	if n := len(segs); n > 1 && segs[n-1] == "" {
		segs = segs[:n-1] // one trailing slash is harmless
	}
	for _, s := range segs {
		if err := checkSegment(s); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", errPath, clip(escaped), err)
		}
	}
	return segs, nil
}

// checkSegment applies the per-segment rules of parseRoute.
func checkSegment(s string) error {
	if s == "" {
		return errors.New("empty path segment")
	}
	dec, err := url.PathUnescape(s)
	if err != nil {
		return errors.New("bad percent-encoding")
	}
	for _, part := range strings.FieldsFunc(dec, func(r rune) bool { return r == '/' || r == '\\' }) {
		if part == "." || part == ".." {
			return errors.New("dot segment in path")
		}
	}
	for i := 0; i < len(dec); i++ {
		if c := dec[i]; c < 0x20 || c == 0x7f {
			return errors.New("control character in path")
		}
	}
	for i := 0; i+2 < len(s); i++ {
		if s[i] == '%' && isUnreserved(unhex(s[i+1])<<4|unhex(s[i+2])) {
			return fmt.Errorf("percent-encoded %q", string(unhex(s[i+1])<<4|unhex(s[i+2])))
		}
	}
	if hasEscape(dec) {
		return errors.New("double percent-encoding")
	}
	return nil
}

// isUnreserved reports whether c is an RFC 3986 unreserved character, whose
// percent-encoding means the same as the character itself (§6.2.2.2).
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// hasEscape reports whether s holds a valid percent-encoding.
func hasEscape(s string) bool {
	for i := 0; i+2 < len(s); i++ {
		if s[i] == '%' && ishex(s[i+1]) && ishex(s[i+2]) {
			return true
		}
	}
	return false
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// unhex decodes one hex digit; checkSegment calls it only on a path that
// url.PathUnescape accepted.
func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10
	}
	return 0
}

// isWord reports whether the segment s is the route word w: plain, so that
// its decoding is itself, and equal but for case.
func isWord(s, w string) bool { return routeWord(s) && strings.EqualFold(s, w) }

// routeWord reports whether s can be read as a word of a route: letters,
// digits, "-" and "_". No dot, so "settings.json" is not taken for some
// other word here and for settings by a server that strips suffixes.
func routeWord(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// matchRoute maps checked segments to a route.
func matchRoute(s []string) (route, bool) {
	if len(s) == 0 {
		return route{}, false
	}
	if isWord(s[0], "api") {
		return matchAPI(s[1:])
	}
	typ := hub.RepoModel
	switch {
	case isWord(s[0], "datasets"):
		typ, s = hub.RepoDataset, s[1:]
	case isWord(s[0], "spaces"):
		typ, s = hub.RepoSpace, s[1:]
	case isWord(s[0], "models"):
		// The Hub has no /models/NS/NAME web form; refusing it keeps a
		// "models" user from being read as a type prefix.
		return route{}, false
	}
	if len(s) < 3 {
		return route{}, false
	}
	ns, name, rest := s[0], s[1], s[2:]
	if isGitRest(rest) {
		// git clones https://huggingface.co/acme/llm as it is and adds
		// ".git" only if the user did: both forms name the repo.
		base, _ := strings.CutSuffix(name, ".git")
		if !hubapi.ValidRepoParts(ns, base) {
			return route{}, false
		}
		return route{kind: routeGit, repo: hub.RepoRef{Type: typ, Namespace: ns, Name: base}, rest: rest}, true
	}
	if base, ok := strings.CutSuffix(name, ".git"); ok {
		if !hubapi.ValidRepoParts(ns, base) || len(rest) < 2 || !isWord(rest[0], "info") || !isWord(rest[1], "lfs") {
			return route{}, false
		}
		// The LFS API's own words (objects, batch, verify, locks) decide
		// what a read lease may do: they must be words too.
		for _, w := range rest[2:min(len(rest), 4)] {
			if !routeWord(w) {
				return route{}, false
			}
		}
		return route{kind: routeLFS, repo: hub.RepoRef{Type: typ, Namespace: ns, Name: base}, rest: rest}, true
	}
	// resolve needs a revision and a file: /NS/NAME/resolve/REV/FILE.
	if !hubapi.ValidRepoParts(ns, name) || !isWord(rest[0], "resolve") || len(rest) < 3 {
		return route{}, false
	}
	return route{kind: routeResolve, repo: hub.RepoRef{Type: typ, Namespace: ns, Name: name}, rest: rest}, true
}

// matchAPI maps the segments after "/api".
func matchAPI(s []string) (route, bool) {
	switch {
	case len(s) == 1 && isWord(s[0], "whoami-v2"):
		return route{kind: routeWhoami}, true
	case len(s) >= 1 && isTypeWord(s[0]):
		typ := typeOf(s[0])
		switch {
		case len(s) == 1:
			return route{kind: routeList, repo: hub.RepoRef{Type: typ}}, true
		case len(s) >= 3 && hubapi.ValidRepoParts(s[1], s[2]):
			// A namespace-less legacy id (/api/models/gpt2) is not
			// supported: it would read as namespace "gpt2". Such repos
			// are public and redirect to their org form anyway.
			if len(s) >= 4 && !routeWord(s[3]) {
				// The sub-route (settings, xet-write-token, paths-info…)
				// decides; it must be a plain word.
				return route{}, false
			}
			return route{kind: routeRepoAPI, repo: hub.RepoRef{Type: typ, Namespace: s[1], Name: s[2]}, rest: s[3:]}, true
		}
	case len(s) >= 5 && isWord(s[0], "resolve-cache") && isTypeWord(s[1]) && hubapi.ValidRepoParts(s[2], s[3]):
		return route{kind: routeResolveCache, repo: hub.RepoRef{Type: typeOf(s[1]), Namespace: s[2], Name: s[3]}, rest: s[4:]}, true
	}
	return route{}, false
}

// word returns the i-th segment of rest in lower case, the form the policy
// compares, or "" when there is none. matchRoute has checked it is a word.
func word(rest []string, i int) string {
	if i >= len(rest) || !routeWord(rest[i]) {
		return ""
	}
	return strings.ToLower(rest[i])
}

func isTypeWord(s string) bool {
	return isWord(s, "models") || isWord(s, "datasets") || isWord(s, "spaces")
}

// typeOf maps a type word that isTypeWord accepted to its repo type.
func typeOf(s string) hub.RepoType {
	t, _ := hub.ParseRepoType(strings.ToLower(s))
	return t
}

// clip bounds client-supplied text quoted back in a reason or audit line.
func clip(s string) string {
	const n = 200
	if len(s) > n {
		return s[:n] + "..." // ASCII: it may end up in a header
	}
	return s
}
