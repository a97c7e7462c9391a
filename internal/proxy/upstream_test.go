package proxy

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// This file holds the fake upstream Hub and "CDN" the proxy tests run
// against. The fake is deliberately small: it serves only what the proxy
// tests need (a private repo acme/llm with a large file streamed on the fly,
// a file that redirects to a CDN, Xet headers) and records every request it
// sees so the tests can check what reached upstream.

// fileBlock is the unit of the generated files: each block is a seeded
// random 64 KiB pattern with its own index written over the first 8 bytes,
// so every block differs (a reordered or repeated block changes the hash)
// while generating costs a memmove, not a PRNG per byte.
const fileBlock = 64 << 10

// pattern streams size deterministic bytes for seed without holding them.
type pattern struct {
	block []byte
	size  int64
	off   int64
}

func newPattern(seed uint64, size int64) *pattern {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	block := make([]byte, fileBlock)
	_, _ = rand.NewChaCha8(key).Read(block)
	return &pattern{block: block, size: size}
}

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(b) && p.off < p.size {
		idx, in := p.off/fileBlock, p.off%fileBlock
		chunk := p.block[in:]
		if rem := p.size - p.off; int64(len(chunk)) > rem {
			chunk = chunk[:rem]
		}
		c := copy(b[n:], chunk)
		if in < 8 {
			// Overlay the block index on the block's first 8 bytes.
			var ib [8]byte
			binary.BigEndian.PutUint64(ib[:], uint64(idx))
			copy(b[n:n+c], ib[in:])
		}
		n += c
		p.off += int64(c)
	}
	return n, nil
}

// patternSums caches the expected digest of each generated file: the test
// computes it the same way the upstream generates the bytes.
var patternSums sync.Map // [2]int64{seed,size} -> string

func patternSum(seed uint64, size int64) string {
	k := [2]int64{int64(seed), size}
	if v, ok := patternSums.Load(k); ok {
		return v.(string)
	}
	h := sha256.New()
	_, _ = io.CopyBuffer(h, newPattern(seed, size), make([]byte, 1<<20))
	sum := hex.EncodeToString(h.Sum(nil))
	patternSums.Store(k, sum)
	return sum
}

// Seeds and sizes of the files the fake upstream serves.
const (
	seedBig   = 1
	seedCDN   = 2
	seedSmall = 3
	cdnSize   = 4 << 20
	smallSize = 1 << 20
	seedBench = 4
	benchSize = 32 << 20
	// The two parts of stream.bin.
	streamFirst  = "first part;"
	streamSecond = "second part"
	// fakeCommit is the commit sha the fake reports for main.
	fakeCommit = "0123456789abcdef0123456789abcdef01234567"
)

// bigSize is the size of big.bin: 256 MiB, or 16 MiB under -short.
func bigSize() int64 {
	if testing.Short() {
		return 16 << 20
	}
	return 256 << 20
}

// publicBenchSize is the size of the public read-through benchmark file:
// 256 MiB (issue 20), or 16 MiB under -short.
func publicBenchSize() int64 { return bigSize() }

// seenRequest is what the upstream recorded of one request.
type seenRequest struct {
	Method, Path, RawQuery, Host string
	Header                       http.Header
	Body                         string
}

// upstream is the fake Hub plus its CDN.
type upstream struct {
	t         testing.TB
	hub       *httptest.Server
	cdn       *httptest.Server
	realToken string
	// gate holds stream.bin after its first part until the test closes it.
	gate chan struct{}

	mu      sync.Mutex
	seen    []seenRequest
	cdnAuth []string // the Authorization header of each CDN request ("" if none)
}

func newUpstream(t testing.TB, realToken string) *upstream {
	u := &upstream{t: t, realToken: realToken, gate: make(chan struct{})}
	u.cdn = httptest.NewServer(http.HandlerFunc(u.serveCDN))
	u.hub = httptest.NewServer(http.HandlerFunc(u.serveHub))
	t.Cleanup(func() {
		u.hub.Close()
		u.cdn.Close()
	})
	return u
}

func (u *upstream) requests() []seenRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seenRequest(nil), u.seen...)
}

// reached reports whether any request for path reached the upstream.
func (u *upstream) reached(method, path string) bool {
	for _, r := range u.requests() {
		if r.Method == method && r.Path == path {
			return true
		}
	}
	return false
}

func (u *upstream) cdnAuthorizations() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.cdnAuth...)
}

// hubErr answers like the Hub: X-Error-Message plus a JSON error body.
func hubErr(w http.ResponseWriter, status int, code, msg string) {
	if code != "" {
		w.Header().Set("X-Error-Code", code)
	}
	w.Header().Set("X-Error-Message", msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func serveFile(w http.ResponseWriter, r *http.Request, seed uint64, size int64) {
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("X-Repo-Commit", fakeCommit)
	w.Header().Set("ETag", fmt.Sprintf(`"%d-%d"`, seed, size))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = io.CopyBuffer(w, newPattern(seed, size), make([]byte, 256<<10))
}

func (u *upstream) serveHub(w http.ResponseWriter, r *http.Request) {
	body := ""
	if r.Body != nil && r.Method != http.MethodGet && r.Method != http.MethodHead {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		body = string(b)
	}
	u.mu.Lock()
	u.seen = append(u.seen, seenRequest{Method: r.Method, Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery, Host: r.Host, Header: r.Header.Clone(), Body: body})
	u.mu.Unlock()

	if r.Header.Get("Authorization") != "Bearer "+u.realToken {
		hubErr(w, http.StatusUnauthorized, "", invalidCredentials)
		return
	}
	self := u.hub.URL
	refresh := self + "/api/models/acme/llm/xet-read-token/main"
	switch p := r.URL.EscapedPath(); {
	case p == "/api/whoami-v2":
		// A session cookie the proxy must not hand down.
		http.SetCookie(w, &http.Cookie{Name: "token", Value: "session-" + u.realToken[3:10], Path: "/"})
		writeJSON(w, map[string]any{"type": "user", "name": "alice", "auth": map[string]any{"type": "access_token"}})
	case p == "/acme/llm/resolve/main/big.bin":
		serveFile(w, r, seedBig, bigSize())
	case p == "/acme/llm/resolve/main/small.bin":
		serveFile(w, r, seedSmall, smallSize)
	case p == "/acme/llm/resolve/main/bench.bin":
		serveFile(w, r, seedBench, benchSize)
	case p == "/acme/llm/resolve/main/stream.bin":
		// The first part, flushed, then nothing until the gate opens: a
		// proxy that buffers never lets the client see the first part. The
		// length is known, so ReverseProxy's automatic flushing of
		// unknown-length bodies does not apply: only FlushInterval does.
		w.Header().Set("Content-Length", strconv.Itoa(len(streamFirst)+len(streamSecond)))
		_, _ = io.WriteString(w, streamFirst)
		http.NewResponseController(w).Flush()
		select {
		case <-u.gate:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, streamSecond)
	case p == "/acme/llm/resolve/main/cdn.bin":
		// As the Hub does for LFS/Xet files: a cross-host redirect to a
		// presigned URL, plus the Xet headers pointing back at the Hub.
		w.Header().Set("Location", u.cdn.URL+"/repos/aa/bb/cdnsha?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=3600&X-Amz-Signature=deadbeef")
		w.Header().Set("Link", "<"+refresh+`>; rel="xet-auth", <`+u.cdn.URL+`/reconstruction/abc>; rel="xet-reconstruction-info"`)
		w.Header().Set("X-Xet-Refresh-Route", refresh)
		w.Header().Set("X-Linked-Size", strconv.Itoa(cdnSize))
		w.WriteHeader(http.StatusFound)
	case p == "/acme/llm/resolve/main/moved.bin":
		// A same-origin absolute redirect: the proxy must point it at itself.
		w.Header().Set("Location", self+"/api/resolve-cache/models/acme/llm/"+fakeCommit+"/moved.bin")
		w.WriteHeader(http.StatusTemporaryRedirect)
	case p == "/api/resolve-cache/models/acme/llm/"+fakeCommit+"/moved.bin":
		_, _ = io.WriteString(w, "moved bytes")
	case p == "/api/models/acme/llm/revision/main", p == "/api/models/acme/other/revision/main":
		id := strings.Split(p, "/")[4]
		writeJSON(w, map[string]any{"id": "acme/" + id, "sha": fakeCommit, "private": true})
	case p == "/api/models/acme/llm/xet-read-token/main", p == "/api/models/acme/llm/xet-write-token/main":
		w.Header().Set("X-Xet-Cas-Url", u.cdn.URL)
		w.Header().Set("X-Xet-Access-Token", "cas-jwt")
		w.Header().Set("X-Xet-Refresh-Route", refresh)
		writeJSON(w, map[string]any{"casUrl": u.cdn.URL, "exp": 4102444800, "accessToken": "cas-jwt"})
	case p == "/api/models/acme/llm/auth-check", p == "/api/models/acme/llm/auth-check/write",
		p == "/api/models/pub/model/auth-check", p == "/api/models/pub/model/auth-check/write":
		// The real token may read and write: the Hub's answer is its own.
		_, _ = io.WriteString(w, "OK")
	case p == "/api/models/acme/llm/paths-info/main" && r.Method == http.MethodPost:
		writeJSON(w, []any{})
	case strings.HasPrefix(p, "/api/models/acme/llm/commit/") && r.Method == http.MethodPost:
		writeJSON(w, map[string]any{"commitOid": fakeCommit, "success": true})
	case strings.HasPrefix(p, "/api/models/acme/llm/preupload/") && r.Method == http.MethodPost:
		writeJSON(w, map[string]any{"files": []any{}})
	case p == "/acme/llm.git/info/lfs/objects/batch" && r.Method == http.MethodPost:
		w.Header().Set("Content-Type", "application/vnd.git-lfs+json")
		_ = json.NewEncoder(w).Encode(map[string]any{"transfer": "basic", "objects": []any{}, "echo": body})
	// Public read-through (issue 20): a public repo, a public gated one the
	// token was not granted, a private one, a dataset, and a missing repo,
	// answered as hf-hub-auth.md says the Hub does.
	case p == "/api/models/pub/model":
		writeJSON(w, map[string]any{"id": "pub/model", "private": false, "gated": false})
	case p == "/api/models/pub/gated":
		writeJSON(w, map[string]any{"id": "pub/gated", "private": false, "gated": "manual"})
	case p == "/api/models/acme/secret", p == "/api/datasets/acme/corpus", p == "/api/datasets/acme/private":
		writeJSON(w, map[string]any{"id": strings.Join(strings.Split(p, "/")[3:], "/"), "private": true, "gated": false})
	case p == "/pub/model/resolve/main/small.bin", p == "/datasets/acme/corpus/resolve/main/small.bin", p == "/acme/secret/resolve/main/small.bin":
		serveFile(w, r, seedSmall, smallSize)
	case p == "/pub/model/resolve/main/bench.bin":
		serveFile(w, r, seedBench, publicBenchSize())
	case p == "/pub/gated/resolve/main/small.bin":
		hubErr(w, http.StatusForbidden, "GatedRepo", "Access to model pub/gated is restricted and you are not in the authorized list. Visit https://huggingface.co/pub/gated to ask for access.")
	case p == "/api/models/busy/model":
		hubErr(w, http.StatusTooManyRequests, "", "Rate limit exceeded")
	case strings.HasPrefix(p, "/api/models/nobody/"):
		hubErr(w, http.StatusNotFound, "RepoNotFound", "Repository not found")
	case p == "/api/settings/tokens":
		// Must never be reached through a lease.
		writeJSON(w, []any{map[string]string{"name": "ci", "token": u.realToken}})
	default:
		hubErr(w, http.StatusNotFound, "EntryNotFound", "Entry not found")
	}
}

func (u *upstream) serveCDN(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.cdnAuth = append(u.cdnAuth, r.Header.Get("Authorization"))
	u.mu.Unlock()
	// A presigned URL carries its own authorisation. (Real S3 even refuses
	// a request that also has an Authorization header; this CDN only
	// records it, so the tests can tell which clients send one.)
	if r.URL.Query().Get("X-Amz-Signature") != "deadbeef" {
		http.Error(w, "missing signature", http.StatusForbidden)
		return
	}
	serveFile(w, r, seedCDN, cdnSize)
}
