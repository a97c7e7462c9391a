package proxy

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/hfbroker/hfbroker/internal/hub"
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
)

// route is a parsed, checked request path.
type route struct {
	kind routeKind
	repo hub.RepoRef
	// rest holds the escaped segments after the repo (after "NAME.git" for
	// LFS), e.g. ["revision","main"] or ["info","lfs","objects","batch"].
	rest []string
}

// errPath is wrapped by every error parseRoute returns; its text is what the
// client sees after "path not allowed through the hfbroker proxy: ".
var errPath = errors.New("path not allowed through the hfbroker proxy")

// maxPathLen bounds the paths the proxy parses; the server's MaxHeaderBytes
// bounds them too, this keeps error messages and audit lines short.
const maxPathLen = 8 << 10

// parseRoute checks an escaped request path (URL.EscapedPath, exactly what
// is forwarded upstream) and says which Hub route it addresses.
//
// Rules, chosen so that what is checked is what the Hub will route:
//   - The path is matched on its escaped form, segment by segment. The
//     segments that name the repo (type, namespace, name) must be plain
//     [A-Za-z0-9._-]: a percent-encoded repo segment is refused, so "acm%65"
//     can never be matched as one repo here and routed as another upstream.
//   - A percent-encoded slash (%2F) is allowed only after the repo segments,
//     because huggingface_hub quotes revisions with safe="" and sends PR refs
//     as "refs%2Fpr%2F1". It cannot move a request to another repo: the repo
//     was already fixed by the plain segments before it.
//   - No segment, decoded, may be "." or "..", nor contain such a part
//     between "/" or "\" (so "..%2F..%2Fother" is refused too), nor control
//     characters or NUL. Empty segments ("//") are refused except a single
//     trailing slash.
//   - Route words ("api", "models", "resolve", "info", "lfs") match exactly;
//     the namespace and name are compared case-insensitively by the lease
//     check (the Hub treats repo ids so) but are never rewritten.
func parseRoute(escaped string) (route, error) {
	if len(escaped) > maxPathLen {
		return route{}, fmt.Errorf("%w: the path is longer than %d bytes", errPath, maxPathLen)
	}
	if !strings.HasPrefix(escaped, "/") {
		return route{}, fmt.Errorf("%w: %s", errPath, clip(escaped))
	}
	segs := strings.Split(escaped[1:], "/")
	if n := len(segs); n > 1 && segs[n-1] == "" {
		segs = segs[:n-1] // one trailing slash is harmless
	}
	for _, s := range segs {
		if err := checkSegment(s); err != nil {
			return route{}, fmt.Errorf("%w: %s: %v", errPath, clip(escaped), err)
		}
	}
	rt, ok := matchRoute(segs)
	if !ok {
		return route{}, fmt.Errorf("%w: %s", errPath, clip(escaped))
	}
	return rt, nil
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
	for i := 0; i < len(dec); i++ {
		if c := dec[i]; c < 0x20 || c == 0x7f {
			return errors.New("control character in path")
		}
	}
	for _, part := range strings.FieldsFunc(dec, func(r rune) bool { return r == '/' || r == '\\' }) {
		if part == "." || part == ".." {
			return errors.New("dot segment in path")
		}
	}
	return nil
}

// matchRoute maps checked segments to a route.
func matchRoute(s []string) (route, bool) {
	if len(s) == 0 {
		return route{}, false
	}
	if s[0] == "api" {
		return matchAPI(s[1:])
	}
	typ := hub.RepoModel
	switch s[0] {
	case "datasets":
		typ, s = hub.RepoDataset, s[1:]
	case "spaces":
		typ, s = hub.RepoSpace, s[1:]
	case "models":
		// The Hub has no /models/NS/NAME web form; refusing it keeps a
		// "models" user from being read as a type prefix.
		return route{}, false
	}
	if len(s) < 3 {
		return route{}, false
	}
	ns, name, rest := s[0], s[1], s[2:]
	if base, ok := strings.CutSuffix(name, ".git"); ok {
		if !plainName(ns) || !plainName(base) || len(rest) < 2 || rest[0] != "info" || rest[1] != "lfs" {
			return route{}, false
		}
		return route{kind: routeLFS, repo: hub.RepoRef{Type: typ, Namespace: ns, Name: base}, rest: rest}, true
	}
	// resolve needs a revision and a file: /NS/NAME/resolve/REV/FILE.
	if !plainName(ns) || !plainName(name) || rest[0] != "resolve" || len(rest) < 3 {
		return route{}, false
	}
	return route{kind: routeResolve, repo: hub.RepoRef{Type: typ, Namespace: ns, Name: name}, rest: rest}, true
}

// matchAPI maps the segments after "/api".
func matchAPI(s []string) (route, bool) {
	switch {
	case len(s) == 1 && s[0] == "whoami-v2":
		return route{kind: routeWhoami}, true
	case len(s) >= 1 && isTypeWord(s[0]):
		typ, _ := hub.ParseRepoType(s[0])
		switch {
		case len(s) == 1:
			return route{kind: routeList, repo: hub.RepoRef{Type: typ}}, true
		case len(s) >= 3 && plainName(s[1]) && plainName(s[2]):
			// A namespace-less legacy id (/api/models/gpt2) is not
			// supported: it would read as namespace "gpt2". Such repos
			// are public and redirect to their org form anyway.
			return route{kind: routeRepoAPI, repo: hub.RepoRef{Type: typ, Namespace: s[1], Name: s[2]}, rest: s[3:]}, true
		}
	case len(s) >= 5 && s[0] == "resolve-cache" && isTypeWord(s[1]) && plainName(s[2]) && plainName(s[3]):
		typ, _ := hub.ParseRepoType(s[1])
		return route{kind: routeResolveCache, repo: hub.RepoRef{Type: typ, Namespace: s[2], Name: s[3]}, rest: s[4:]}, true
	}
	return route{}, false
}

func isTypeWord(s string) bool { return s == "models" || s == "datasets" || s == "spaces" }

// plainName reports whether a namespace or name segment holds only the
// characters the Hub allows in repo ids, unescaped.
func plainName(s string) bool {
	if s == "" || len(s) > hub.MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// clip bounds client-supplied text quoted back in a reason or audit line.
func clip(s string) string {
	const n = 200
	if len(s) > n {
		return s[:n] + "..." // ASCII: it may end up in a header
	}
	return s
}
