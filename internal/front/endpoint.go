//go:build unix

package front

import "strings"

// defaultEndpoint is hubapi.DefaultEndpoint.
const defaultEndpoint = "https://huggingface.co"

// hub is a Hub endpoint the front recognised.
type hub struct {
	url    string // as hubapi.NormalizeEndpoint writes it
	scheme string // "https", or "http" on a loopback host
	host   string // lower-case, with ":port" when the endpoint has one
	prefix string // the endpoint's path without its slashes, "" for none
}

// parseEndpoint recognises the endpoints the front answers for, and
// refuses everything else, for the full CLI to judge with net/url
// (hubapi.ParseEndpoint), which the front does not link: an http or https
// URL whose host is a name of letters, digits, '-' and '.', with an
// optional port and a path of letters, digits and "-._~/", and http only
// for localhost, 127.0.0.0/8 written plainly and [::1]. For every
// endpoint it accepts, FuzzParseEndpointIsHubapis checks that hubapi
// accepts it too and normalises it the same way.
func parseEndpoint(raw string) (hub, bool) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return hub{}, false
	}
	scheme = lowerASCII(scheme)
	if scheme != "https" && scheme != "http" {
		return hub{}, false
	}
	host, p := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		host, p = rest[:i], rest[i:]
	}
	name, port := host, ""
	if host == "[::1]" || strings.HasPrefix(host, "[::1]:") {
		name, port = "[::1]", strings.TrimPrefix(host[len("[::1]"):], ":")
		if port == "" && len(host) > len("[::1]") {
			return hub{}, false
		}
	} else if i := strings.LastIndexByte(host, ':'); i >= 0 {
		name, port = host[:i], host[i+1:]
		if port == "" {
			return hub{}, false
		}
	}
	if !hostName(name) && name != "[::1]" || !allIn(port, "0123456789") || !allIn(p, pathChars) {
		return hub{}, false
	}
	name = lowerASCII(name)
	if scheme == "http" && !loopback(name) {
		return hub{}, false
	}
	host = name
	if port != "" {
		host += ":" + port
	}
	u := scheme + "://" + host + strings.TrimRight(p, "/")
	return hub{url: u, scheme: scheme, host: host, prefix: strings.Trim(p, "/")}, true
}

const pathChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/"

func hostName(s string) bool {
	return s != "" && allIn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.")
}

func allIn(s, set string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(set, s[i]) < 0 {
			return false
		}
	}
	return true
}

// loopback is hubapi.IsLoopback for the hosts hostName passes, and [::1].
func loopback(host string) bool {
	if host == "localhost" || host == "[::1]" {
		return true
	}
	parts := strings.Split(host, ".")
	if len(parts) != 4 || parts[0] != "127" {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 3 || p[0] == '0' && p != "0" || !allIn(p, "0123456789") || len(p) == 3 && p > "255" {
			return false
		}
	}
	return true
}

// lowerASCII is hubapi.LowerASCII.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
