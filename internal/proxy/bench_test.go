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

// BenchmarkProxyPublicReadThrough compares a 256 MiB download (16 MiB under
// -short) from a public repo the lease does not name, through the proxy's
// public read-through (issue 20), with the same download made directly. The
// visibility answer is cached, so after the first request the proxy's cost
// is a map lookup: it must stay at least 0.8x direct (docs/BENCHMARKS.md).
func BenchmarkProxyPublicReadThrough(b *testing.B) {
	e := newEnv(b)
	lease := e.leaseWith(Lease{ID: "l-bench-public", Repo: ref(b, "acme/llm"), Public: true})
	const path = "/pub/model/resolve/main/bench.bin"
	size := publicBenchSize()
	for _, tc := range []struct{ name, url, token string }{
		{"direct", e.up.hub.URL + path, e.realToken},
		{"proxy", e.url + path, lease},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				if n := benchGet(b, e.client, tc.url, tc.token); n != size {
					b.Fatalf("got %d bytes, want %d", n, size)
				}
			}
		})
	}
}
