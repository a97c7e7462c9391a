package hubapi

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// DefaultEndpoint is huggingface_hub's default HF_ENDPOINT.
const DefaultEndpoint = "https://huggingface.co"

// Errors ParseEndpoint wraps.
var (
	// ErrBadEndpoint: the endpoint is not an absolute http(s) URL, or it
	// carries credentials, a query or a fragment.
	ErrBadEndpoint = errors.New("invalid endpoint")
	// ErrInsecureEndpoint: an http:// endpoint that is not loopback, which
	// would send the token in clear text.
	ErrInsecureEndpoint = errors.New("insecure endpoint")
)

// ParseEndpoint checks and normalises a Hub endpoint such as
// "https://huggingface.co/", the one rule every package applies to
// HF_ENDPOINT, the config's endpoint and a profile's or lease's endpoint.
//
//   - It must be an absolute https:// URL; http:// only on a loopback host
//     (IsLoopback), because a token sent over http elsewhere can be read off
//     the wire.
//   - No user info, query or fragment, not even an empty query ("…?"): the
//     endpoint is a prefix that paths are appended to, as huggingface_hub
//     does with f"{ENDPOINT}/api/…".
//   - A path is allowed (a mirror may serve the Hub below a prefix);
//     trailing slashes are dropped, as huggingface_hub's rstrip("/") does.
//   - The scheme and host are lowercased, so equal endpoints compare equal.
func ParseEndpoint(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%w %q: %v", ErrBadEndpoint, shown(raw), err)
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https", u.Host == "", u.Opaque != "":
		return nil, fmt.Errorf("%w %q: want an absolute https:// URL like %s", ErrBadEndpoint, shown(raw), DefaultEndpoint)
	case u.User != nil:
		return nil, fmt.Errorf("%w: the endpoint URL must not hold credentials", ErrBadEndpoint)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || strings.ContainsAny(raw, "?#"):
		return nil, fmt.Errorf("%w %q: the endpoint must not have a query or fragment", ErrBadEndpoint, shown(raw))
	case scheme == "http" && !IsLoopback(u.Hostname()):
		return nil, fmt.Errorf("%w %q: the token would travel in clear text; use https:// (http:// is allowed only for 127.0.0.1, ::1 and localhost)", ErrInsecureEndpoint, shown(raw))
	}
	return &url.URL{
		Scheme: scheme,
		Host:   strings.ToLower(u.Host),
		Path:   strings.TrimRight(u.Path, "/"),
	}, nil
}

// NormalizeEndpoint is ParseEndpoint as a string: the form profiles, leases
// and the config store.
func NormalizeEndpoint(raw string) (string, error) {
	u, err := ParseEndpoint(raw)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

// IsLoopback reports whether host (without a port) is "localhost" in any
// ASCII case or a loopback IP address, IPv4-mapped forms included. It is the
// one test for "plain http is safe here". The case folding is ASCII only:
// strings.EqualFold would take "localhoſt" (U+017F, long s) for localhost,
// a name that resolves elsewhere.
func IsLoopback(host string) bool {
	if LowerASCII(host) == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// LowerASCII lowercases ASCII letters only: host names compare so, since
// Unicode case folding would let "\u212a" (KELVIN SIGN) stand for "k" or
// "\u017f" (long s) for "s".
func LowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// shown is the endpoint as an error quotes it: clipped, without a query or
// fragment and without user info, where a token may have been pasted.
func shown(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i] + "…"
	}
	if i := strings.LastIndexByte(raw, '@'); i >= 0 {
		start := strings.Index(raw, "://")
		if start < 0 || start > i {
			start = -3
		}
		raw = raw[:start+3] + "…@" + raw[i+1:]
	}
	return clip(raw)
}
