package proxy

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hfbroker/hfbroker/internal/secret"
)

const (
	testReal  = "hf_RealRealRealRealRealRealRealReal12"
	testLease = "hf_LeaseLeaseLeaseLeaseLeaseLease1234"
	testBase  = "http://127.0.0.1:5000"
)

func testRewrite(t *testing.T, endpoint string) batchRewrite {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return batchRewrite{upstream: u, base: testBase, real: testReal, lease: testLease, completion: func(string) {}}
}

// answer is a batch answer with one object whose actions are acts.
func answer(acts string) string {
	return `{"transfer":"basic","objects":[{"oid":"ab","size":1,"actions":` + acts + `}]}`
}

// actionOf decodes the rewritten answer's action name of the first object.
func actionOf(t *testing.T, out []byte, name string) (href string, header map[string]string) {
	t.Helper()
	var a struct {
		Objects []struct {
			Actions map[string]struct {
				Href   string
				Header map[string]string
			}
		}
	}
	if err := json.Unmarshal(out, &a); err != nil || len(a.Objects) != 1 {
		t.Fatalf("rewritten answer %s: %v", out, err)
	}
	act := a.Objects[0].Actions[name]
	return act.Href, act.Header
}

// TestLFSBatchHrefsOnTheHubPointAtTheProxy: an action href on the lease's
// endpoint becomes the same path and query on the proxy, whatever the case
// of its host and with or without its default port; every other href is
// left as it is.
func TestLFSBatchHrefsOnTheHubPointAtTheProxy(t *testing.T) {
	tests := []struct {
		name     string
		endpoint string
		href     string
		header   string // the action's "header" member, with its comma
		want     string
	}{
		{name: "verify on the Hub", endpoint: "https://huggingface.co", href: "https://huggingface.co/acme/llm.git/info/lfs/objects/verify", want: testBase + "/acme/llm.git/info/lfs/objects/verify"},
		{name: "the Hub's host in another case", endpoint: "https://huggingface.co", href: "https://HuggingFace.CO/acme/llm.git/info/lfs/objects/verify", want: testBase + "/acme/llm.git/info/lfs/objects/verify"},
		{name: "the Hub with its default port spelt out", endpoint: "https://huggingface.co", href: "https://huggingface.co:443/acme/llm.git/info/lfs/objects/verify", want: testBase + "/acme/llm.git/info/lfs/objects/verify"},
		{name: "an endpoint with its default port, an href without", endpoint: "http://hub.internal:80", href: "http://hub.internal/acme/llm.git/info/lfs/objects/verify", want: testBase + "/acme/llm.git/info/lfs/objects/verify"},
		{name: "the query is kept byte for byte", endpoint: "https://huggingface.co", href: "https://huggingface.co/api/complete_multipart?uploadId=a%2Fb&signature=c&x", want: testBase + "/api/complete_multipart?uploadId=a%2Fb&signature=c&x"},
		{name: "presigned storage is untouched", endpoint: "https://huggingface.co", href: "https://cdn-lfs-us-1.hf.co/repos/ab/cd?X-Amz-Signature=x&X-Amz-Expires=900", want: "https://cdn-lfs-us-1.hf.co/repos/ab/cd?X-Amz-Signature=x&X-Amz-Expires=900"},
		{name: "a host that ends like the Hub's is another host", endpoint: "https://huggingface.co", href: "https://huggingface.co.evil.example/acme/llm.git/info/lfs/objects/verify", want: "https://huggingface.co.evil.example/acme/llm.git/info/lfs/objects/verify"},
		{name: "the Hub's host over http is another origin", endpoint: "https://huggingface.co", href: "http://huggingface.co/acme/llm.git/info/lfs/objects/verify", want: "http://huggingface.co/acme/llm.git/info/lfs/objects/verify"},
		{name: "the Hub's host on another port is another origin", endpoint: "https://huggingface.co", href: "https://huggingface.co:8443/x", want: "https://huggingface.co:8443/x"},
		{name: "a multipart completion on the Hub points at the proxy too", endpoint: "https://huggingface.co", href: "https://huggingface.co/api/complete_multipart?uploadId=u&signature=s", header: `,"header":{"chunk_size":"16000000","00001":"https://s3.example/p1"}`, want: testBase + "/api/complete_multipart?uploadId=u&signature=s"},
		{name: "a relative href is untouched", endpoint: "https://huggingface.co", href: "/acme/llm.git/info/lfs/objects/verify", want: "/acme/llm.git/info/lfs/objects/verify"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := testRewrite(t, tc.endpoint)
			out, err := x.rewriteBatch([]byte(answer(fmt.Sprintf(`{"verify":{"href":%q,"expires_in":900%s}}`, tc.href, tc.header))))
			if err != nil {
				t.Fatal(err)
			}
			if href, _ := actionOf(t, out, "verify"); href != tc.want {
				t.Errorf("href %q, want %q", href, tc.want)
			}
			if !bytes.Contains(out, []byte(`"expires_in":900`)) || !bytes.Contains(out, []byte(`"transfer":"basic"`)) {
				t.Errorf("the rest of the answer was not kept: %s", out)
			}
		})
	}
}

// TestLFSBatchActionHeadersNeverCarryTheRealToken: a header holding the real
// token in any form becomes the lease token's equivalent on an href that
// now points at the proxy, and is dropped on another host's href; other
// headers pass.
func TestLFSBatchActionHeadersNeverCarryTheRealToken(t *testing.T) {
	basic := func(enc *base64.Encoding, user, tok string) string {
		return "Basic " + enc.EncodeToString([]byte(user+":"+tok))
	}
	const hub, cdn = "https://huggingface.co/acme/llm.git/info/lfs/objects/verify", "https://cdn-lfs.hf.co/repos/x?X-Amz-Signature=s"
	tests := []struct {
		name   string
		href   string
		header map[string]string
		want   map[string]string
	}{
		{name: "Bearer on the Hub becomes the lease's Bearer", href: hub,
			header: map[string]string{"Authorization": "Bearer " + testReal},
			want:   map[string]string{"Authorization": "Bearer " + testLease}},
		{name: "Basic on the Hub becomes the lease's Basic", href: hub,
			header: map[string]string{"Authorization": basic(base64.StdEncoding, "hf_user", testReal)},
			want:   map[string]string{"Authorization": basic(base64.StdEncoding, "hf_user", testLease)}},
		{name: "Basic in base64url without padding keeps its spelling", href: hub,
			header: map[string]string{"Authorization": basic(base64.RawURLEncoding, "a", testReal)},
			want:   map[string]string{"Authorization": basic(base64.RawURLEncoding, "a", testLease)}},
		{name: "a token in another scheme is swapped", href: hub,
			header: map[string]string{"Authorization": "token " + testReal},
			want:   map[string]string{"Authorization": "token " + testLease}},
		{name: "Bearer on presigned storage is dropped", href: cdn,
			header: map[string]string{"Authorization": "Bearer " + testReal, "X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"},
			want:   map[string]string{"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"}},
		{name: "Basic on presigned storage is dropped", href: cdn,
			header: map[string]string{"Authorization": basic(base64.StdEncoding, "hf_user", testReal)},
			want:   map[string]string{}},
		{name: "base64 of a longer text is dropped even on the Hub", href: hub,
			header: map[string]string{"X-Cred": "v1." + base64.StdEncoding.EncodeToString([]byte(`{"t":"`+testReal+`"}`))},
			want:   map[string]string{}},
		{name: "a percent-encoded token is dropped", href: cdn,
			header: map[string]string{"X-Token": "k%3D%68" + testReal[1:]},
			want:   map[string]string{}},
		{name: "a header named by the token is dropped", href: hub,
			header: map[string]string{"X-" + testReal: "1"},
			want:   map[string]string{}},
		{name: "multipart part URLs and chunk size pass", href: "https://huggingface.co/api/complete_multipart?uploadId=u&signature=s",
			header: map[string]string{"chunk_size": "16000000", "00001": "https://s3.example/part1?X-Amz-Signature=a"},
			want:   map[string]string{"chunk_size": "16000000", "00001": "https://s3.example/part1?X-Amz-Signature=a"}},
		{name: "a multipart completion gets no lease token: clients post it without one", href: "https://huggingface.co/api/complete_multipart?uploadId=u&signature=s",
			header: map[string]string{"chunk_size": "16000000", "Authorization": "Bearer " + testReal},
			want:   map[string]string{"chunk_size": "16000000"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := testRewrite(t, "https://huggingface.co")
			act, _ := json.Marshal(map[string]any{"upload": map[string]any{"href": tc.href, "header": tc.header}})
			out, err := x.rewriteBatch([]byte(answer(string(act))))
			if err != nil {
				t.Fatal(err)
			}
			_, got := actionOf(t, out, "upload")
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("header %v, want %v", got, tc.want)
			}
			if x.leaks(out) {
				t.Errorf("the answer still holds the real token: %s", out)
			}
		})
	}
}

// TestLFSBatchAnswersThatCannotBeRewrittenAreRefused: an answer the proxy
// cannot read, or one that still holds the real token outside an action
// header, is not sent; the reason is one line.
func TestLFSBatchAnswersThatCannotBeRewrittenAreRefused(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{name: "not JSON", body: `<html>`, want: "not a JSON object"},
		{name: "a JSON array", body: `[]`, want: "not a JSON object"},
		{name: "data after the object", body: `{"objects":[]} {"objects":[]}`, want: "not a JSON object"},
		{name: "a duplicate key", body: `{"objects":[{"actions":{"verify":{"href":"https://cdn.example/x","href":"https://huggingface.co/x"}}}]}`, want: "not a JSON object"},
		{name: "objects not a list", body: `{"objects":{}}`, want: "not a JSON object"},
		{name: "actions not objects", body: answer(`{"verify":"x"}`), want: "actions that are not objects"},
		{name: "an href not a string", body: answer(`{"verify":{"href":1}}`), want: `action "verify": href is not a string`},
		{name: "a header not of strings", body: answer(`{"verify":{"href":"x","header":{"a":1}}}`), want: `action "verify": header is not an object of strings`},
		{name: "an odd action's name is not quoted", body: answer(`{"` + testReal + `":{"href":1}}`), want: "an action: href is not a string"},
		{name: "the token in a message", body: `{"objects":[],"message":"` + testReal + `"}`, want: "holds the credential"},
		{name: "the token behind a JSON escape", body: `{"objects":[{"error":{"code":1,"message":"hf\u005f` + testReal[3:] + `"}}]}`, want: "holds the credential"},
		{name: "the token in a storage href", body: answer(`{"download":{"href":"https://cdn.example/x?t=` + testReal + `"}}`), want: "holds the credential"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := testRewrite(t, "https://huggingface.co").rewriteBatch([]byte(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("err %v, want one line with %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), testReal) {
				t.Errorf("the error reveals the token")
			}
		})
	}
	t.Run("an answer over the limit", func(t *testing.T) {
		big := io.MultiReader(strings.NewReader(`{"objects":[],"pad":"`), io.LimitReader(neverEnding('x'), maxBatchAnswer))
		_, err := testRewrite(t, "https://huggingface.co").readBatchAnswer(big)
		if err == nil || !strings.Contains(err.Error(), "is over 16 MiB") {
			t.Errorf("err %v, want over 16 MiB", err)
		}
	})
}

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

// TestTokenFormsFindTheTokenAtAnyAlignment: base64 of any text that holds
// the token, whatever comes before it, contains one of its forms.
func TestTokenFormsFindTheTokenAtAnyAlignment(t *testing.T) {
	x := batchRewrite{real: testReal}
	for _, prefix := range []string{"", "a", "ab", "abc", "hf_user:", "x:"} {
		for _, enc := range base64Encodings {
			s := enc.EncodeToString([]byte(prefix + testReal + "!"))
			if !x.carriesToken(s) {
				t.Errorf("%q after %q in %v: not found", s, prefix, enc)
			}
		}
	}
	if x.carriesToken(base64.StdEncoding.EncodeToString([]byte("hf_user:" + testLease))) {
		t.Errorf("the lease token's Basic is taken for the real token")
	}
}

// lfsHub is a fake Hub whose LFS batch route answers what a test sets, and
// records what it was asked.
type lfsHub struct {
	srv      *httptest.Server
	mu       sync.Mutex
	answer   func(hubURL string) (contentEncoding string, body []byte)
	encoding []string // Accept-Encoding of each request
	auth     []string // Authorization of each request
	uris     []string // request URI of each request
}

func newLFSHub(t *testing.T) *lfsHub {
	h := &lfsHub{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.encoding = append(h.encoding, r.Header.Get("Accept-Encoding"))
		h.auth = append(h.auth, r.Header.Get("Authorization"))
		h.uris = append(h.uris, r.URL.RequestURI())
		answer := h.answer
		h.mu.Unlock()
		if r.URL.Path == "/acme/llm.git/info/lfs/objects/verify" || r.URL.Path == "/api/complete_multipart" {
			_, _ = io.WriteString(w, `{"message":"ok"}`)
			return
		}
		ce, body := answer(h.srv.URL)
		if ce != "" {
			w.Header().Set("Content-Encoding", ce)
		}
		w.Header().Set("Content-Type", "application/vnd.git-lfs+json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// TestLFSBatchAnswerThroughTheProxy: through the proxy, a batch answer's
// verify points at the proxy with the lease token and the real token is
// gone from it, even when the Hub echoes it in every action's headers and
// the client asked for gzip; git-lfs's verify then goes through the proxy
// as a write with the real token. A compressed or malformed answer is a
// 502 with git-lfs's one-line message.
func TestLFSBatchAnswerThroughTheProxy(t *testing.T) {
	e := newEnv(t)
	h := newLFSHub(t)
	write, read := mustLeaseToken(t), mustLeaseToken(t)
	e.leases.Add(write, Lease{ID: "l-w", Endpoint: h.srv.URL, Token: secret.Token(e.realToken), Repo: ref(t, "acme/llm"), Write: true})
	e.leases.Add(read, Lease{ID: "l-r", Endpoint: h.srv.URL, Token: secret.Token(e.realToken), Repo: ref(t, "acme/llm")})
	echo := func(hubURL string) (string, []byte) {
		hdr := map[string]string{"Authorization": "Bearer " + e.realToken, "X-Basic": "Basic " + base64.StdEncoding.EncodeToString([]byte("hf_user:"+e.realToken))}
		b, _ := json.Marshal(map[string]any{"transfer": "basic", "objects": []any{map[string]any{"oid": "ab", "size": 1, "actions": map[string]any{
			"upload": map[string]any{"href": "https://cdn-lfs.hf.co/x?X-Amz-Signature=s", "header": hdr},
			"verify": map[string]any{"href": hubURL + "/acme/llm.git/info/lfs/objects/verify", "header": hdr},
		}}}})
		return "", b
	}
	h.answer = echo
	batch := func(lease string) (*http.Response, string) {
		return e.do("POST", "/acme/llm.git/info/lfs/objects/batch", lease, strings.NewReader(`{"operation":"upload","objects":[{"oid":"ab","size":1}]}`),
			"Content-Type", "application/vnd.git-lfs+json", "Accept-Encoding", "gzip")
	}
	res, body := batch(write)
	if res.StatusCode != 200 {
		t.Fatalf("batch: %d %s", res.StatusCode, body)
	}
	href, hdr := actionOf(t, []byte(body), "verify")
	if href != e.url+"/acme/llm.git/info/lfs/objects/verify" || hdr["Authorization"] != "Bearer "+write {
		t.Errorf("verify %q %v, want the proxy's verify with the lease token", href, hdr)
	}
	if _, up := actionOf(t, []byte(body), "upload"); len(up) != 0 {
		t.Errorf("the storage action keeps headers %v, want the echoed credential dropped", up)
	}
	if (batchRewrite{real: e.realToken}).carriesToken(body) {
		t.Errorf("the answer holds the real token: %s", body)
	}
	if got := res.Header.Get("Content-Length"); got != fmt.Sprint(len(body)) {
		t.Errorf("Content-Length %q for a body of %d bytes", got, len(body))
	}
	h.mu.Lock()
	if enc := h.encoding[len(h.encoding)-1]; enc != "" {
		t.Errorf("the batch went up with Accept-Encoding %q, want none (the answer is rewritten)", enc)
	}
	h.mu.Unlock()

	// git-lfs follows the verify href with the header it was given.
	res, body = e.do("POST", "/acme/llm.git/info/lfs/objects/verify", write, strings.NewReader(`{"oid":"ab","size":1}`))
	h.mu.Lock()
	last := h.auth[len(h.auth)-1]
	h.mu.Unlock()
	if res.StatusCode != 200 || last != "Bearer "+e.realToken {
		t.Errorf("verify through the proxy: %d %s, the Hub saw the real token: %v", res.StatusCode, body, last == "Bearer "+e.realToken)
	}
	res, _ = e.do("POST", "/acme/llm.git/info/lfs/objects/verify", read, strings.NewReader(`{"oid":"ab","size":1}`))
	if res.StatusCode != 403 || !strings.Contains(res.Header.Get("X-Error-Message"), "lease l-r may only read acme/llm (LFS verify of an upload)") {
		t.Errorf("verify with a read lease: %d %q, want 403", res.StatusCode, res.Header.Get("X-Error-Message"))
	}

	for _, tc := range []struct {
		name   string
		answer func(string) (string, []byte)
		want   string
	}{
		{"gzip", func(u string) (string, []byte) {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			_, enc := echo(u)
			_, _ = zw.Write(enc)
			_ = zw.Close()
			return "gzip", b.Bytes()
		}, "the Hub's LFS batch answer is gzip-encoded"},
		{"malformed", func(string) (string, []byte) { return "", []byte(`{"objects":`) }, "the Hub's LFS batch answer is not a JSON object with an objects list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.mu.Lock()
			h.answer = tc.answer
			h.mu.Unlock()
			res, body := batch(write)
			var m struct{ Message string }
			if res.StatusCode != http.StatusBadGateway || json.Unmarshal([]byte(body), &m) != nil || m.Message != "hfbroker proxy: "+tc.want {
				t.Errorf("%d %s, want 502 with the message %q", res.StatusCode, body, tc.want)
			}
			if ev := e.waitEvent(func(ev Event) bool { return ev.Denied && strings.Contains(ev.Reason, tc.want) }); ev.Status != http.StatusBadGateway {
				t.Errorf("audit event %+v, want a 502", ev)
			}
		})
	}
}

func mustLeaseToken(t *testing.T) string {
	t.Helper()
	tok, err := NewLeaseToken()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// FuzzRewriteBatch: whatever the Hub answers, the rewrite never panics, and
// what it lets through is one valid JSON object that holds the real token
// in no form and no duplicate key.
func FuzzRewriteBatch(f *testing.F) {
	for _, s := range []string{
		answer(`{"verify":{"href":"https://huggingface.co/a/b.git/info/lfs/objects/verify","header":{"Authorization":"Bearer ` + testReal + `"}}}`),
		answer(`{"upload":{"href":"https://cdn.example/x","header":{"Authorization":"Basic ` + base64.StdEncoding.EncodeToString([]byte("u:"+testReal)) + `"}}}`),
		answer(`{"upload":{"href":"https://huggingface.co/api/complete_multipart?u=1","header":{"chunk_size":"1","00001":"https://s3/x"}}}`),
		`{"objects":[{"oid":"a","size":1,"error":{"code":404,"message":"x"}}]}`, `{"objects":null}`, `{}`, `{"a":{"a":1},"b":[{"a":1,"b":2}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		x := testRewrite(t, "https://huggingface.co")
		out, err := x.rewriteBatch(b)
		if err != nil {
			return
		}
		var m map[string]json.RawMessage
		if err := decodeOne(out, &m); err != nil || m == nil {
			t.Fatalf("%q: rewritten to %q, not one JSON object: %v", b, out, err)
		}
		if x.leaks(out) {
			t.Fatalf("%q: rewritten to %q, which holds the real token", b, out)
		}
	})
}

// TestLFSMultipartCompletionGoesThroughTheProxyWithoutAToken: the Hub's
// multipart completion URL points at the proxy in the batch answer, and
// huggingface_hub posts it there without credentials (lfs.py): the proxy
// forwards exactly that URL, for the lease it handed it to, with no token;
// any other URL without credentials, or the same once the lease has ended,
// is refused.
func TestLFSMultipartCompletionGoesThroughTheProxyWithoutAToken(t *testing.T) {
	e := newEnv(t)
	h := newLFSHub(t)
	write := mustLeaseToken(t)
	e.leases.Add(write, Lease{ID: "l-w", Endpoint: h.srv.URL, Token: secret.Token(e.realToken), Repo: ref(t, "acme/llm"), Write: true})
	const signed = "/api/complete_multipart?uploadId=u1&bucket=b&expiration=Sat%2C+15+Aug+2026&signature=s%2Fx"
	h.answer = func(hubURL string) (string, []byte) {
		b, _ := json.Marshal(map[string]any{"objects": []any{map[string]any{"oid": "ab", "size": 10, "actions": map[string]any{
			"upload": map[string]any{"href": hubURL + signed, "header": map[string]string{
				"chunk_size": "5", "00001": "https://s3.example/p1?X-Amz-Signature=a", "00002": "https://s3.example/p2?X-Amz-Signature=b",
				"Authorization": "Bearer " + e.realToken}},
		}}}})
		return "", b
	}
	res, body := e.do("POST", "/acme/llm.git/info/lfs/objects/batch", write, strings.NewReader(`{"operation":"upload","transfers":["basic","multipart"],"objects":[{"oid":"ab","size":10}]}`))
	href, hdr := actionOf(t, []byte(body), "upload")
	if res.StatusCode != 200 || href != e.url+signed || hdr["chunk_size"] != "5" || hdr["00002"] != "https://s3.example/p2?X-Amz-Signature=b" || hdr["Authorization"] != "" {
		t.Fatalf("multipart batch: %d, href %q, header %v; want the completion on the proxy, the parts untouched, no Authorization", res.StatusCode, href, hdr)
	}

	res, body = e.do("POST", signed, "", strings.NewReader(`{"oid":"ab","parts":[{"partNumber":1,"etag":"x"}]}`), "Content-Type", "application/vnd.git-lfs+json")
	h.mu.Lock()
	uri, auth := h.uris[len(h.uris)-1], h.auth[len(h.auth)-1]
	h.mu.Unlock()
	if res.StatusCode != 200 || uri != signed || auth != "" {
		t.Errorf("the completion without credentials: %d %s; the Hub got %q with Authorization %q, want exactly the URL and none", res.StatusCode, body, uri, auth)
	}
	for _, tc := range []struct{ name, method, path string }{
		{"another upload id", "POST", strings.Replace(signed, "u1", "u2", 1)},
		{"the same URL as a GET", "GET", signed},
		{"another path with the same query", "POST", "/api/models/acme/llm/commit/main?" + strings.SplitN(signed, "?", 2)[1]},
	} {
		if res, _ := e.do(tc.method, tc.path, "", strings.NewReader(`{}`)); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without credentials: %d, want 401", tc.name, res.StatusCode)
		}
	}
	e.leases.Remove(write)
	if res, _ := e.do("POST", signed, "", strings.NewReader(`{}`)); res.StatusCode != http.StatusUnauthorized || !strings.Contains(res.Header.Get("X-Error-Message"), "lease l-w ended") {
		t.Errorf("the completion after the lease ended: %d %q, want 401 lease ended", res.StatusCode, res.Header.Get("X-Error-Message"))
	}
}

// TestCompletionURLsExpireAndAreBounded: a completion URL is honoured for
// completionTTL, and the table keeps at most maxCompletions, the oldest
// going first.
func TestCompletionURLsExpireAndAreBounded(t *testing.T) {
	c := newCompletions()
	now := time.Unix(1_700_000_000, 0)
	c.now = func() time.Time { return now }
	llm := *ref(t, "acme/llm")
	c.add("/api/complete_multipart?u=first", "lease", llm)
	if _, ok := c.lookup("/api/complete_multipart?u=first"); !ok {
		t.Fatal("a fresh completion URL is not found")
	}
	now = now.Add(completionTTL + time.Second)
	if _, ok := c.lookup("/api/complete_multipart?u=first"); ok {
		t.Error("an expired completion URL is still honoured")
	}
	for i := 0; i < maxCompletions+10; i++ {
		c.add(fmt.Sprintf("/api/complete_multipart?u=%d", i), "lease", llm)
	}
	if len(c.byURI) != maxCompletions || len(c.order) != maxCompletions {
		t.Errorf("the table holds %d (order %d), want %d", len(c.byURI), len(c.order), maxCompletions)
	}
	if _, ok := c.lookup("/api/complete_multipart?u=0"); ok {
		t.Error("the oldest entry was kept past the bound")
	}
	if _, ok := c.lookup(fmt.Sprintf("/api/complete_multipart?u=%d", maxCompletions+9)); !ok {
		t.Error("the newest entry is missing")
	}
}
