package gitcred

import (
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/hfbroker/hfbroker/internal/hubapi"
)

// urlParts is what git's credential_from_url derives from a url= value.
type urlParts struct {
	protocol, host, path, username, password string
}

// reconcileURL derives protocol, host, path, username and password from url=
// and merges them into the explicit attributes. Git's own credential_read
// clears the request on url= and lets later lines override it, which makes
// the answer depend on line order; here an explicit attribute that disagrees
// with the URL refuses the whole request instead.
func (req *Request) reconcileURL(present bool) error {
	if req.URL == "" {
		if present {
			// Git dies on an empty url= ("url has no scheme"), and an empty
			// pattern is what CVE-2020-11008 turned into "matches every
			// host" in other helpers.
			return &ParseError{Reason: "url attribute is empty"}
		}
		return nil
	}
	p, err := splitURL(req.URL)
	if err != nil {
		return err
	}
	merge := func(key string, explicit *string, derived string, equal func(a, b string) bool) error {
		switch {
		case derived == "":
		case *explicit == "":
			*explicit = derived
		case !equal(*explicit, derived):
			return &ParseError{Reason: "url disagrees with the " + key + " attribute"}
		}
		return nil
	}
	exact := func(a, b string) bool { return a == b }
	for _, m := range []struct {
		key      string
		explicit *string
		derived  string
		equal    func(a, b string) bool
	}{
		{"protocol", &req.Protocol, p.protocol, exact},
		{"host", &req.Host, p.host, equalFoldASCII},
		{"path", &req.Path, p.path, exact},
		{"username", &req.Username, p.username, exact},
		{"password", &req.Password, p.password, exact},
	} {
		if err := merge(m.key, m.explicit, m.derived, m.equal); err != nil {
			return err
		}
	}
	return nil
}

// splitURL derives the credential fields from a URL the way git's
// credential_from_url does, and parses it again with net/url. Both must agree:
// a URL that two parsers read differently (two '@', a '%2f' in the host, a
// query) is how credentials get smuggled to another host, so it is refused.
func splitURL(raw string) (urlParts, error) {
	refuse := func(reason string) (urlParts, error) {
		return urlParts{}, &ParseError{Reason: "url " + reason}
	}
	if hasControl(raw) {
		return refuse("contains a control character")
	}
	if strings.ContainsAny(raw, "?#") {
		return refuse("has a query or fragment")
	}

	// Git's split: scheme up to "://", user info up to the first '@'
	// before the first '/', host up to that '/'.
	pe := strings.Index(raw, "://")
	if pe <= 0 {
		return refuse("has no scheme")
	}
	var g urlParts
	g.protocol = raw[:pe]
	cp := raw[pe+3:]
	slash := strings.IndexByte(cp, '/')
	if slash < 0 {
		slash = len(cp)
	}
	at := strings.IndexByte(cp, '@')
	colon := strings.IndexByte(cp, ':')
	host := cp
	var err error
	switch {
	case at < 0 || slash <= at:
		// no user info
	case colon < 0 || at <= colon:
		if g.username, err = url.PathUnescape(cp[:at]); err != nil {
			return refuse("has a bad escape in its user name")
		}
		host = cp[at+1:]
	default:
		if g.username, err = url.PathUnescape(cp[:colon]); err != nil {
			return refuse("has a bad escape in its user name")
		}
		if g.password, err = url.PathUnescape(cp[colon+1 : at]); err != nil {
			return refuse("has a bad escape in its password")
		}
		host = cp[at+1:]
	}
	hostEnd := strings.IndexByte(host, '/')
	if hostEnd < 0 {
		hostEnd = len(host)
	}
	if g.host, err = url.PathUnescape(host[:hostEnd]); err != nil {
		return refuse("has a bad escape in its host")
	}
	if g.host == "" {
		// CVE-2020-11008: "https:///huggingface.co" has an empty host.
		return refuse("has no host")
	}
	if rest := strings.Trim(host[hostEnd:], "/"); rest != "" {
		if g.path, err = url.PathUnescape(rest); err != nil {
			return refuse("has a bad escape in its path")
		}
	}

	// net/url's reading: it refuses control characters, escaped bytes in
	// the host, bad ports, and splits user info at the last '@'.
	u, err := url.Parse(raw)
	if err != nil {
		return refuse("cannot be parsed")
	}
	n := urlParts{
		protocol: u.Scheme,
		host:     u.Host,
		path:     strings.Trim(u.Path, "/"),
	}
	if u.User != nil {
		n.username = u.User.Username()
		n.password, _ = u.User.Password()
	}
	if u.Opaque != "" || !strings.EqualFold(n.protocol, g.protocol) || !equalFoldASCII(n.host, g.host) ||
		n.path != g.path || n.username != g.username || n.password != g.password {
		return refuse("is ambiguous")
	}
	for _, s := range []string{g.protocol, g.host, g.path, g.username, g.password} {
		if hasControl(s) || !utf8.ValidString(s) {
			return refuse("decodes to a control character or invalid UTF-8")
		}
	}
	return g, nil
}

// hasControl reports ASCII control characters, DEL included.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// equalFoldASCII compares case-insensitively over ASCII only. Unicode case
// folding would let "\u212a" (KELVIN SIGN) stand for "k" in a host name.
func equalFoldASCII(a, b string) bool {
	return lowerASCII(a) == lowerASCII(b)
}

func lowerASCII(s string) string { return hubapi.LowerASCII(s) }
