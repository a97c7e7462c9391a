package proxy

import (
	"io"
	"net/http"
	"testing"
)

// get fetches url with the bearer token and discards the body.
func benchGet(b *testing.B, c *http.Client, url, token string) int64 {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	n, err := io.Copy(io.Discard, res.Body)
	if err != nil || res.StatusCode != 200 {
		b.Fatalf("GET %s: %d %v", url, res.StatusCode, err)
	}
	return n
}

// BenchmarkProxyStream compares the throughput of a 32 MiB download through
// the proxy with the same download straight from the upstream.
func BenchmarkProxyStream(b *testing.B) {
	e := newEnv(b)
	lease := e.lease("l-bench", ref(b, "acme/llm"), false)
	const path = "/acme/llm/resolve/main/bench.bin"
	for _, tc := range []struct{ name, url, token string }{
		{"direct", e.up.hub.URL + path, e.realToken},
		{"proxy", e.url + path, lease},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(benchSize)
			for b.Loop() {
				if n := benchGet(b, e.client, tc.url, tc.token); n != benchSize {
					b.Fatalf("got %d bytes, want %d", n, benchSize)
				}
			}
		})
	}
}

// BenchmarkProxySmallCall compares the latency of a small API call
// (whoami-v2) through the proxy with the same call made directly.
func BenchmarkProxySmallCall(b *testing.B) {
	e := newEnv(b)
	lease := e.lease("l-bench", ref(b, "acme/llm"), false)
	for _, tc := range []struct{ name, url, token string }{
		{"direct", e.up.hub.URL + "/api/whoami-v2", e.realToken},
		{"proxy", e.url + "/api/whoami-v2", lease},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				benchGet(b, e.client, tc.url, tc.token)
			}
		})
	}
}
