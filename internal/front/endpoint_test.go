//go:build unix

package front

import (
	"testing"

	"github.com/hfbroker/hfbroker/internal/hubapi"
)

var endpointSeeds = []string{
	"https://huggingface.co", "https://huggingface.co/", "HTTPS://HuggingFace.CO//", "https://hf.example:8443/mirror/hub/",
	"http://127.0.0.1:37839", "http://localhost", "http://LOCALHOST:80/x", "http://[::1]:9", "http://[::1]", "http://[::1]:",
	"http://127.000.0.1", "http://127.0.0.256", "http://10.0.0.1", "http://example.com", "https://host:", "https://:443",
	"https://user:hf_x@huggingface.co", "https://huggingface.co?x", "https://huggingface.co/#f", "https://huggingface.co/a%2fb",
	"huggingface.co", "ftp://huggingface.co", "https://hugging_face.co", "https://xn--h-1ga.example", "https://huggingface.co/~user/.x",
	"http://127.1", "http://0x7f.0.0.1", "https:///path", "https://[::1]:443", "https://a..b", "https://-a.b",
}

// FuzzParseEndpointIsHubapis: every endpoint the front recognises,
// hubapi.ParseEndpoint (net/url) accepts and normalises to the same URL,
// scheme and host; what the front refuses, the full CLI judges.
func FuzzParseEndpointIsHubapis(f *testing.F) {
	for _, s := range endpointSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		h, ok := parseEndpoint(raw)
		if !ok {
			return
		}
		u, err := hubapi.ParseEndpoint(raw)
		if err != nil {
			t.Fatalf("the front took %q, which hubapi refuses: %v", raw, err)
		}
		if h.url != u.String() || h.scheme != u.Scheme || h.host != u.Host {
			t.Fatalf("%q: front %+v; hubapi %q (scheme %q host %q)", raw, h, u.String(), u.Scheme, u.Host)
		}
	})
}

// The endpoints people set are the ones the front answers for itself.
func TestParseEndpointTakesTheCommonForms(t *testing.T) {
	for _, raw := range []string{"https://huggingface.co", "https://huggingface.co/", "https://hf-mirror.com",
		"https://hub.internal.example:8443/hf", "http://127.0.0.1:37839", "http://localhost:8080", "http://[::1]:9000"} {
		if _, ok := parseEndpoint(raw); !ok {
			t.Errorf("the front hands %q over", raw)
		}
	}
	for _, raw := range []string{"http://example.com", "https://user:pw@huggingface.co", "https://huggingface.co?", "huggingface.co", ""} {
		if h, ok := parseEndpoint(raw); ok {
			t.Errorf("the front took %q as %+v", raw, h)
		}
	}
}
