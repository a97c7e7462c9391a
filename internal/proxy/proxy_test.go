package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hfbroker/hfbroker/internal/hub"
	"github.com/hfbroker/hfbroker/internal/secret"
	"github.com/hfbroker/hfbroker/internal/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testDeadline only stops a broken test from hanging on a loaded machine;
// nothing asserts how fast anything happened.
const testDeadline = 2 * time.Minute

// env is one proxy in front of one fake upstream, with its leases, audit
// events and log captured.
type env struct {
	t         testing.TB
	up        *upstream
	leases    *Table
	proxy     *Proxy
	url       string // http://127.0.0.1:PORT
	realToken string
	client    *http.Client
	logs      *testutil.SyncBuffer

	mu        sync.Mutex
	events    []Event
	summaries []Summary
}

// envOptions vary newEnv's proxy.
type envOptions struct {
	ownerOnly bool // serve through OwnerOnly for this process's uid
}

func newEnv(t testing.TB) *env { t.Helper(); return newEnvWith(t, envOptions{}) }

func newEnvWith(t testing.TB, o envOptions) *env {
	t.Helper()
	real, err := NewLeaseToken() // any hf_ token will do as the "real" one
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, realToken: real, leases: NewTable(), logs: &testutil.SyncBuffer{}}
	e.up = newUpstream(t, real)
	e.proxy = New(Options{
		Leases: e.leases,
		Audit: func(ev Event) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.events = append(e.events, ev)
		},
		Summary: func(s Summary) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.summaries = append(e.summaries, s)
		},
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	l, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	if o.ownerOnly {
		l = e.proxy.OwnerOnly(l, uint32(os.Getuid()))
	}
	srv := NewServer(e.proxy)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	e.url = "http://" + l.Addr().String()
	tr := &http.Transport{Proxy: nil, DisableCompression: true, MaxIdleConnsPerHost: 100}
	// The test client never follows redirects: the tests look at them.
	e.client = &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       testDeadline,
	}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		_ = srv.Close()
		<-done
		e.proxy.Close()
		// Nothing the proxy logged or audited may hold the real token.
		if strings.Contains(e.logs.String(), real) {
			t.Errorf("the proxy's log reveals the real token")
		}
		for _, ev := range e.auditEvents() {
			if strings.Contains(fmt.Sprintf("%+v", ev), real) {
				t.Errorf("an audit event reveals the real token: %+v", ev)
			}
		}
	})
	return e
}

// lease adds a lease and returns its token.
func (e *env) lease(id string, repo *hub.RepoRef, write bool) string {
	e.t.Helper()
	tok, err := NewLeaseToken()
	if err != nil {
		e.t.Fatal(err)
	}
	e.leases.Add(tok, Lease{ID: id, Endpoint: e.up.hub.URL, Token: secret.Token(e.realToken), Repo: repo, Write: write})
	return tok
}

// summary ends the proxy's counting window now and returns the total of
// what it counted since the test began.
func (e *env) summary() Summary {
	e.proxy.tally.flush()
	e.mu.Lock()
	defer e.mu.Unlock()
	var sum Summary
	for _, s := range e.summaries {
		sum.Connections += s.Connections
		sum.Requests += s.Requests
		sum.LastReason = s.LastReason
	}
	return sum
}

func (e *env) auditEvents() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Event(nil), e.events...)
}

// waitEvent waits for an audit event matching pred: the proxy writes it
// after the response ended, which may be just after the client has read it.
func (e *env) waitEvent(pred func(Event) bool) Event {
	e.t.Helper()
	deadline := time.Now().Add(testDeadline)
	for time.Now().Before(deadline) {
		for _, ev := range e.auditEvents() {
			if pred(ev) {
				return ev
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.t.Fatalf("no matching audit event; have %+v", e.auditEvents())
	return Event{}
}

// do sends a request through the proxy and returns the response with its
// body read. It fails the test if the real token shows up anywhere in what
// the client received.
func (e *env) do(method, path, leaseToken string, body io.Reader, hdr ...string) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if leaseToken != "" {
		req.Header.Set("Authorization", "Bearer "+leaseToken)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	e.assertNoRealToken(fmt.Sprintf("%s %s", method, path), res.Header, string(b))
	return res, string(b)
}

func (e *env) assertNoRealToken(what string, h http.Header, body string) {
	e.t.Helper()
	var hb strings.Builder
	_ = h.Write(&hb)
	// In any form: as it is, or in the base64 of a Basic credential.
	if x := (batchRewrite{real: e.realToken}); x.carriesToken(hb.String()) || x.carriesToken(body) {
		e.t.Errorf("%s: the response reveals the real token", what)
	}
	// Even a fragment of it (the fake's session cookie uses one).
	if strings.Contains(hb.String()+body, e.realToken[3:10]) {
		e.t.Errorf("%s: the response reveals part of the real token", what)
	}
}

func ref(t testing.TB, s string) *hub.RepoRef {
	t.Helper()
	r, err := hub.ParseRepo(s, hub.RepoModel)
	if err != nil {
		t.Fatal(err)
	}
	return &r
}

func TestWhoamiPassesAndTheTokenIsSwapped(t *testing.T) {
	e := newEnv(t)
	lease := e.lease("l-1", ref(t, "acme/llm"), false)
	res, body := e.do("GET", "/api/whoami-v2", lease, nil,
		"Cookie", "session=abc", "X-Forwarded-For", "10.0.0.1", "Forwarded", "for=10.0.0.1")
	if res.StatusCode != 200 || !strings.Contains(body, `"alice"`) {
		t.Fatalf("whoami through the proxy = %d %q, want 200 alice", res.StatusCode, body)
	}
	if c := res.Header.Values("Set-Cookie"); len(c) != 0 {
		t.Errorf("the proxy handed down Set-Cookie %q; cookies must not reach the child", c)
	}
	reqs := e.up.requests()
	if len(reqs) != 1 {
		t.Fatalf("upstream saw %d requests, want 1", len(reqs))
	}
	got := reqs[0]
	if got.Header.Get("Authorization") != "Bearer "+e.realToken {
		t.Errorf("upstream did not get the real token")
	}
	for _, h := range []string{"Cookie", "X-Forwarded-For", "X-Forwarded-Host", "Forwarded"} {
		if v := got.Header.Get(h); v != "" {
			t.Errorf("upstream got %s: %q; the proxy must not forward it", h, v)
		}
	}
	if want := strings.TrimPrefix(e.up.hub.URL, "http://"); got.Host != want {
		t.Errorf("upstream saw Host %q, want its own %q", got.Host, want)
	}
	if strings.Contains(fmt.Sprint(got.Header), lease) {
		t.Errorf("the lease token reached upstream")
	}
}

func TestCredentialsAreChecked(t *testing.T) {
	e := newEnv(t)
	lease := e.lease("l-1", ref(t, "acme/llm"), true)
	unknown, _ := NewLeaseToken()
	tests := []struct {
		name string
		auth []string
	}{
		{name: "no Authorization header gets 401", auth: nil},
		{name: "an unknown lease token gets 401", auth: []string{"Bearer " + unknown}},
		{name: "the real token itself gets 401", auth: []string{"Bearer " + e.realToken}},
		{name: "Basic auth that is not user:password gets 401", auth: []string{"Basic " + lease}},
		{name: "two Authorization headers get 401", auth: []string{"Bearer " + lease, "Bearer " + lease}},
		{name: "an empty bearer gets 401", auth: []string{"Bearer "}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", e.url+"/api/whoami-v2", nil)
			for _, a := range tc.auth {
				req.Header.Add("Authorization", a)
			}
			res, err := e.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", res.StatusCode)
			}
			if got := res.Header.Get("X-Error-Message"); got != invalidCredentials {
				t.Errorf("X-Error-Message %q, want %q", got, invalidCredentials)
			}
			var msg struct{ Error string }
			if err := json.Unmarshal(body, &msg); err != nil || msg.Error != invalidCredentials {
				t.Errorf("body %q, want {\"error\":%q}", body, invalidCredentials)
			}
		})
	}
	if n := len(e.up.requests()); n != 0 {
		t.Errorf("upstream saw %d requests; refused ones must not reach it", n)
	}
}

func TestAnEndedLeaseFailsAtOnce(t *testing.T) {
	e := newEnv(t)
	lease := e.lease("l-ends", ref(t, "acme/llm"), false)
	if res, _ := e.do("GET", "/api/models/acme/llm/revision/main", lease, nil); res.StatusCode != 200 {
		t.Fatalf("live lease: status %d, want 200", res.StatusCode)
	}
	e.leases.Remove(lease)
	res, _ := e.do("GET", "/api/models/acme/llm/revision/main", lease, nil)
	// Issue 20: the 401 says which lease ended (the table remembers it by a
	// keyed hash of the token), not just "invalid credentials".
	const ended = "lease l-ends ended: it is no longer live; start the job again for a new lease"
	if res.StatusCode != http.StatusUnauthorized || res.Header.Get("X-Error-Message") != ended {
		t.Fatalf("ended lease: status %d %q, want 401 %q", res.StatusCode, res.Header.Get("X-Error-Message"), ended)
	}
	if n := len(e.up.requests()); n != 1 {
		t.Errorf("upstream saw %d requests, want only the one made while the lease lived", n)
	}
	// A request with no live lease is anyone's: it is counted, not audited.
	if s := e.summary(); s.Requests != 1 || s.LastReason != ended {
		t.Errorf("summary after the ended lease's request = %+v, want 1 request refused for %q", s, ended)
	}
	for _, ev := range e.auditEvents() {
		if ev.Status == 401 {
			t.Errorf("the ended lease's request was audited on its own: %+v", ev)
		}
	}
}

func TestLeasesAreEnforced(t *testing.T) {
	e := newEnv(t)
	read := e.lease("l-read", ref(t, "acme/llm"), false)
	write := e.lease("l-write", ref(t, "acme/llm"), true)
	anyRepo := e.lease("l-any", nil, false)
	const commit = `{"summary":"x"}`
	tests := []struct {
		name       string
		lease      string
		method     string
		path       string
		body       string
		want       int
		wantReason string // substring of X-Error-Message when refused
	}{
		{name: "a read lease reads its repo's API", lease: read, method: "GET", path: "/api/models/acme/llm/revision/main", want: 200},
		{name: "a read lease reads its repo case-insensitively", lease: read, method: "GET", path: "/api/models/ACME/LLM/revision/main", want: 404},
		{name: "a read lease downloads from its repo", lease: read, method: "HEAD", path: "/acme/llm/resolve/main/small.bin", want: 200},
		{name: "a read lease may POST paths-info, which only reads", lease: read, method: "POST", path: "/api/models/acme/llm/paths-info/main", body: `{"paths":["a"]}`, want: 200},
		{name: "a read lease gets a Xet read token", lease: read, method: "GET", path: "/api/models/acme/llm/xet-read-token/main", want: 200},
		{name: "a read lease cannot get a Xet write token", lease: read, method: "GET", path: "/api/models/acme/llm/xet-write-token/main", want: 403, wantReason: "lease l-read may only read acme/llm (a Xet write token uploads); add --write-repo acme/llm"},
		// huggingface_hub auth_check(write=True) is this GET: the Hub
		// answers for the real token, which can push, so it told a read
		// lease's job that it could push, and the push failed later.
		{name: "a read lease may check that it reads", lease: read, method: "GET", path: "/api/models/acme/llm/auth-check", want: 200},
		{name: "a read lease is not told it may write", lease: read, method: "GET", path: "/api/models/acme/llm/auth-check/write", want: 403, wantReason: "lease l-read may only read acme/llm (GET /api/models/acme/llm/auth-check/write); add --write-repo acme/llm"},
		{name: "a read lease is not told it may write, whatever the case", lease: read, method: "GET", path: "/api/models/acme/llm/Auth-Check/WRITE", want: 403, wantReason: "may only read acme/llm"},
		{name: "a read lease is not told it may write, however it is spelled", lease: read, method: "GET", path: "/api/models/acme/llm/auth-check/write%2F", want: 403, wantReason: "may only read acme/llm"},
		{name: "a write lease checks that it writes", lease: write, method: "GET", path: "/api/models/acme/llm/auth-check/write", want: 200},
		{name: "a read lease cannot POST a commit", lease: read, method: "POST", path: "/api/models/acme/llm/commit/main", body: commit, want: 403, wantReason: "lease l-read may only read acme/llm (POST /api/models/acme/llm/commit/main); add --write-repo acme/llm"},
		{name: "a read lease cannot PUT a commit", lease: read, method: "PUT", path: "/api/models/acme/llm/commit/main", body: commit, want: 403, wantReason: "lease l-read may only read acme/llm (PUT"},
		{name: "a read lease cannot preupload, which is part of an upload", lease: read, method: "POST", path: "/api/models/acme/llm/preupload/main", body: `{}`, want: 403, wantReason: "may only read acme/llm (POST"},
		{name: "a read lease may post an LFS batch that downloads", lease: read, method: "POST", path: "/acme/llm.git/info/lfs/objects/batch", body: `{"operation":"download","objects":[{"oid":"ab","size":1}]}`, want: 200},
		{name: "a read lease cannot post an LFS batch that uploads", lease: read, method: "POST", path: "/acme/llm.git/info/lfs/objects/batch", body: `{"operation":"upload","objects":[]}`, want: 403, wantReason: `operation is "upload"`},
		{name: "a read lease cannot smuggle an upload after a download key", lease: read, method: "POST", path: "/acme/llm.git/info/lfs/objects/batch", body: `{"operation":"download","operation":"upload"}`, want: 403, wantReason: "exactly one operation"},
		{name: "a lease for acme/llm cannot read acme/other", lease: read, method: "GET", path: "/api/models/acme/other/revision/main", want: 404, wantReason: "lease l-read covers acme/llm only; add --repo acme/other"},
		{name: "a lease for a model cannot read the dataset of the same name", lease: read, method: "GET", path: "/api/datasets/acme/llm", want: 404, wantReason: "add --repo datasets/acme/llm"},
		{name: "a lease for acme/llm cannot download from acme/other", lease: write, method: "GET", path: "/acme/other/resolve/main/big.bin", want: 404, wantReason: "lease l-write covers acme/llm only; add --repo acme/other"},
		{name: "a write lease POSTs a commit", lease: write, method: "POST", path: "/api/models/acme/llm/commit/main", body: commit, want: 200},
		{name: "a write lease preuploads", lease: write, method: "POST", path: "/api/models/acme/llm/preupload/main", body: `{}`, want: 200},
		{name: "a write lease posts an LFS upload batch", lease: write, method: "POST", path: "/acme/llm.git/info/lfs/objects/batch", body: `{"operation":"upload"}`, want: 200},
		{name: "a write lease cannot change repo settings", lease: write, method: "PUT", path: "/api/models/acme/llm/settings", body: `{"private":false}`, want: 403, wantReason: "cannot change the settings"},
		{name: "a write lease cannot POST to a download route", lease: write, method: "POST", path: "/acme/llm/resolve/main/big.bin", want: 403, wantReason: "downloads are GET or HEAD"},
		{name: "the token list is refused for any lease", lease: anyRepo, method: "GET", path: "/api/settings/tokens", want: 403, wantReason: "path not allowed through the hfbroker proxy: /api/settings/tokens"},
		{name: "repo creation is refused, it names its repo in the body", lease: write, method: "POST", path: "/api/repos/create", body: `{"name":"llm"}`, want: 403, wantReason: "path not allowed"},
		{name: "a dot-dot path is refused", lease: read, method: "GET", path: "/api/models/acme/llm/../other/revision/main", want: 403, wantReason: "dot segment"},
		{name: "an encoded dot-dot path is refused", lease: read, method: "GET", path: "/api/models/acme/llm/%2E%2E%2F..%2Fother/revision/main", want: 403, wantReason: "dot segment"},
		{name: "an encoded repo name is refused", lease: read, method: "GET", path: "/api/models/acme/ll%6D/revision/main", want: 403, wantReason: "path not allowed"},
		{name: "a PR revision with encoded slashes passes", lease: read, method: "GET", path: "/api/models/acme/llm/revision/refs%2Fpr%2F1", want: 404},
		{name: "a lease for any repo reads acme/other", lease: anyRepo, method: "GET", path: "/api/models/acme/other/revision/main", want: 200},
		{name: "a lease for any repo lists models", lease: anyRepo, method: "GET", path: "/api/models", want: 404},
		{name: "a repo lease cannot list models", lease: read, method: "GET", path: "/api/models", want: 403, wantReason: "listing models is not allowed"},
		{name: "whoami cannot be POSTed", lease: read, method: "POST", path: "/api/whoami-v2", want: 403, wantReason: "only GET"},
		{name: "an odd method is refused", lease: write, method: "PROPFIND", path: "/api/models/acme/llm", want: 403, wantReason: "method PROPFIND is not allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			before := len(e.up.requests())
			res, got := e.do(tc.method, tc.path, tc.lease, body)
			if res.StatusCode != tc.want {
				t.Fatalf("status %d (%q), want %d", res.StatusCode, res.Header.Get("X-Error-Message"), tc.want)
			}
			reached := len(e.up.requests()) > before
			if tc.wantReason == "" {
				if !reached {
					t.Errorf("the request did not reach upstream")
				}
				return
			}
			if reached {
				t.Errorf("a refused request reached upstream")
			}
			if msg := res.Header.Get("X-Error-Message"); !strings.Contains(msg, tc.wantReason) {
				t.Errorf("X-Error-Message %q, want it to contain %q", msg, tc.wantReason)
			}
			var m struct{ Error string }
			if err := json.Unmarshal([]byte(got), &m); err != nil || m.Error != res.Header.Get("X-Error-Message") {
				t.Errorf("body %q, want {\"error\": the X-Error-Message}", got)
			}
		})
	}
}

func TestTheLFSBatchBodyReachesUpstreamWhole(t *testing.T) {
	e := newEnv(t)
	read := e.lease("l-read", ref(t, "acme/llm"), false)
	// A body larger than one read, so the peek and the rest are joined.
	objs := make([]string, 200)
	for i := range objs {
		objs[i] = fmt.Sprintf(`{"oid":"%064x","size":%d}`, i, i)
	}
	body := `{"operation":"download","transfers":["basic"],"objects":[` + strings.Join(objs, ",") + `]}`
	res, _ := e.do("POST", "/acme/llm.git/info/lfs/objects/batch", read, strings.NewReader(body), "Content-Type", "application/vnd.git-lfs+json")
	if res.StatusCode != 200 {
		t.Fatalf("status %d, want 200", res.StatusCode)
	}
	reqs := e.up.requests()
	if got := reqs[len(reqs)-1].Body; got != body {
		t.Errorf("upstream got a body of %d bytes, want the client's %d bytes unchanged", len(got), len(body))
	}

	big := `{"operation":"download","pad":"` + strings.Repeat("x", maxBatchPeek) + `"}`
	res, _ = e.do("POST", "/acme/llm.git/info/lfs/objects/batch", read, strings.NewReader(big))
	if res.StatusCode != 403 || !strings.Contains(res.Header.Get("X-Error-Message"), "over 64 KiB") {
		t.Errorf("an oversized batch from a read lease: %d %q, want 403 over 64 KiB", res.StatusCode, res.Header.Get("X-Error-Message"))
	}
}

func TestHostHeaderMustBeLoopback(t *testing.T) {
	e := newEnv(t)
	lease := e.lease("l-1", nil, false)
	for _, host := range []string{"localhost", "127.0.0.1", "[::1]:1234"} {
		res, _ := e.doHost(host, lease)
		if res.StatusCode != 200 {
			t.Errorf("Host %q: status %d, want 200", host, res.StatusCode)
		}
	}
	res, _ := e.doHost("evil.example:80", lease)
	if res.StatusCode != 403 || !strings.Contains(res.Header.Get("X-Error-Message"), "not a loopback address") {
		t.Errorf("Host evil.example: %d %q, want 403 not a loopback address", res.StatusCode, res.Header.Get("X-Error-Message"))
	}
}

func (e *env) doHost(host, lease string) (*http.Response, string) {
	req, _ := http.NewRequest("GET", e.url+"/api/whoami-v2", nil)
	req.Host = host
	req.Header.Set("Authorization", "Bearer "+lease)
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestSameOriginURLsArePointedAtTheProxy(t *testing.T) {
	e := newEnv(t)
	lease := e.lease("l-1", ref(t, "acme/llm"), false)
	refresh := e.url + "/api/models/acme/llm/xet-read-token/main"

	res, _ := e.do("GET", "/acme/llm/resolve/main/cdn.bin", lease, nil)
	if res.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want 302", res.StatusCode)
	}
	if loc := res.Header.Get("Location"); !strings.HasPrefix(loc, e.up.cdn.URL+"/repos/aa/bb/cdnsha?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=3600&X-Amz-Signature=deadbeef") {
		t.Errorf("a cross-host Location was changed: %q", loc)
	}
	wantLink := "<" + refresh + `>; rel="xet-auth", <` + e.up.cdn.URL + `/reconstruction/abc>; rel="xet-reconstruction-info"`
	if got := res.Header.Get("Link"); got != wantLink {
		t.Errorf("Link = %q\nwant   %q", got, wantLink)
	}
	if got := res.Header.Get("X-Xet-Refresh-Route"); got != refresh {
		t.Errorf("X-Xet-Refresh-Route = %q, want %q", got, refresh)
	}

	res, _ = e.do("GET", "/acme/llm/resolve/main/moved.bin", lease, nil)
	want := e.url + "/api/resolve-cache/models/acme/llm/" + fakeCommit + "/moved.bin"
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusTemporaryRedirect || loc != want {
		t.Fatalf("same-origin redirect: %d Location %q, want 307 %q", res.StatusCode, loc, want)
	}
	// And the rewritten URL works through the proxy with the lease token.
	res, body := e.do("GET", strings.TrimPrefix(want, e.url), lease, nil)
	if res.StatusCode != 200 || body != "moved bytes" {
		t.Errorf("following the rewritten redirect: %d %q, want 200 \"moved bytes\"", res.StatusCode, body)
	}

	res, _ = e.do("GET", "/api/models/acme/llm/xet-read-token/main", lease, nil)
	if got := res.Header.Get("X-Xet-Refresh-Route"); got != refresh {
		t.Errorf("xet-read-token X-Xet-Refresh-Route = %q, want %q", got, refresh)
	}
	if got := res.Header.Get("X-Xet-Cas-Url"); got != e.up.cdn.URL {
		t.Errorf("X-Xet-Cas-Url = %q, want the CAS host untouched %q", got, e.up.cdn.URL)
	}
}

func TestResponsesStreamWithoutBuffering(t *testing.T) {
	e := newEnv(t)
	lease := e.lease("l-1", ref(t, "acme/llm"), false)
	req, _ := http.NewRequest("GET", e.url+"/acme/llm/resolve/main/stream.bin", nil)
	req.Header.Set("Authorization", "Bearer "+lease)
	res, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	// The upstream sends the rest only after the client has the first part:
	// a buffering proxy would hang here until the client's deadline.
	first := make([]byte, len(streamFirst))
	if _, err := io.ReadFull(res.Body, first); err != nil || string(first) != streamFirst {
		t.Fatalf("first part %q, %v; want %q before the upstream finishes", first, err, streamFirst)
	}
	close(e.up.gate)
	rest, err := io.ReadAll(res.Body)
	if err != nil || string(rest) != streamSecond {
		t.Fatalf("second part %q, %v; want %q", rest, err, streamSecond)
	}
}

func TestConcurrentDownloads(t *testing.T) {
	e := newEnv(t)
	lease := e.lease("l-1", ref(t, "acme/llm"), false)
	want := patternSum(seedSmall, smallSize)
	const n = 100
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", e.url+"/acme/llm/resolve/main/small.bin", nil)
			req.Header.Set("Authorization", "Bearer "+lease)
			res, err := e.client.Do(req)
			if err != nil {
				errs <- err
				return
			}
			defer res.Body.Close()
			h := sha256.New()
			if _, err := io.Copy(h, res.Body); err != nil {
				errs <- err
				return
			}
			if got := hex.EncodeToString(h.Sum(nil)); res.StatusCode != 200 || got != want {
				errs <- fmt.Errorf("status %d sha256 %s, want 200 %s", res.StatusCode, got, want)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// One audit event per request, each with the whole body counted.
	deadline := time.Now().Add(testDeadline)
	for len(e.auditEvents()) < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	evs := e.auditEvents()
	if len(evs) != n {
		t.Fatalf("%d audit events, want %d", len(evs), n)
	}
	for _, ev := range evs {
		if ev.Bytes != smallSize || ev.Status != 200 || ev.LeaseID != "l-1" || ev.Denied {
			t.Fatalf("audit event %+v, want l-1 200 with %d bytes", ev, smallSize)
		}
	}
}

func TestEachRequestIsAudited(t *testing.T) {
	e := newEnv(t)
	lease := e.lease("l-audit", ref(t, "acme/llm"), false)
	e.do("GET", "/api/models/acme/llm/revision/main?expand=sha", lease, nil)
	e.do("POST", "/api/models/acme/llm/commit/main", lease, strings.NewReader("{}"))
	e.do("GET", "/api/models/acme/llm/nothing", lease, nil)

	ok := e.waitEvent(func(ev Event) bool { return ev.Path == "/api/models/acme/llm/revision/main" })
	if ok.LeaseID != "l-audit" || ok.Method != "GET" || ok.Status != 200 || ok.Bytes == 0 || ok.Denied || ok.Time.IsZero() {
		t.Errorf("allowed request audited as %+v", ok)
	}
	denied := e.waitEvent(func(ev Event) bool { return ev.Method == "POST" })
	if !denied.Denied || denied.Status != 403 || !strings.Contains(denied.Reason, "may only read acme/llm (POST") || denied.LeaseID != "l-audit" {
		t.Errorf("refused request audited as %+v", denied)
	}
	// An error from the Hub itself is not a refusal by the proxy.
	nf := e.waitEvent(func(ev Event) bool { return ev.Path == "/api/models/acme/llm/nothing" })
	if nf.Denied || nf.Status != 404 {
		t.Errorf("Hub 404 audited as %+v, want status 404 not denied", nf)
	}
}

func TestAnAbortedDownloadIsAudited(t *testing.T) {
	e := newEnv(t)
	lease := e.lease("l-abort", ref(t, "acme/llm"), false)
	req, _ := http.NewRequest("GET", e.url+"/acme/llm/resolve/main/big.bin", nil)
	req.Header.Set("Authorization", "Bearer "+lease)
	res, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(res.Body, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	// Closing the body early closes the connection: the proxy's copy fails.
	res.Body.Close()
	ev := e.waitEvent(func(ev Event) bool { return ev.LeaseID == "l-abort" })
	if ev.Reason != "stream aborted" || ev.Bytes >= bigSize() || ev.Status != 200 {
		t.Errorf("aborted download audited as %+v, want reason \"stream aborted\" with fewer than %d bytes", ev, bigSize())
	}
}

func TestUnreachableUpstreamIsABadGateway(t *testing.T) {
	e := newEnv(t)
	// A port nothing listens on: listen, note the address, close.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	tok, _ := NewLeaseToken()
	e.leases.Add(tok, Lease{ID: "l-dead", Endpoint: dead, Token: secret.Token(e.realToken)})
	res, _ := e.do("GET", "/api/whoami-v2", tok, nil)
	if res.StatusCode != http.StatusBadGateway || !strings.Contains(res.Header.Get("X-Error-Message"), "could not be reached") {
		t.Errorf("dead upstream: %d %q, want 502 could not be reached", res.StatusCode, res.Header.Get("X-Error-Message"))
	}

	tok2, _ := NewLeaseToken()
	e.leases.Add(tok2, Lease{ID: "l-path", Endpoint: e.up.hub.URL + "/mirror", Token: secret.Token(e.realToken)})
	res, _ = e.do("GET", "/api/whoami-v2", tok2, nil)
	if res.StatusCode != http.StatusBadGateway || !strings.Contains(res.Header.Get("X-Error-Message"), "not an http(s)://host origin") {
		t.Errorf("endpoint with a path: %d %q, want 502", res.StatusCode, res.Header.Get("X-Error-Message"))
	}
}

// requireTool returns the path of a tool the test runs. A missing tool fails
// the test unless HFBROKER_OPTIONAL_TOOLS names it (comma-separated), so CI,
// which installs everything, never skips silently.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	for _, opt := range strings.Split(os.Getenv("HFBROKER_OPTIONAL_TOOLS"), ",") {
		if strings.TrimSpace(opt) == name {
			t.Skipf("%s not installed and listed in HFBROKER_OPTIONAL_TOOLS", name)
		}
	}
	t.Fatalf("%s is required for this test: %v (set HFBROKER_OPTIONAL_TOOLS=%s to skip)", name, err, name)
	return ""
}

// childEnv is the environment of a child started in proxy mode: no proxy
// variables (the test servers are local), HF_TOKEN and HF_ENDPOINT set.
func childEnv(e *env, lease string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToLower(k) {
		case "http_proxy", "https_proxy", "all_proxy", "no_proxy", "hf_token", "hf_endpoint", "hugging_face_hub_token":
			continue
		}
		out = append(out, kv)
	}
	return append(out, "HF_TOKEN="+lease, "HF_ENDPOINT="+e.url)
}

func TestCurlDownloadsThroughTheProxy(t *testing.T) {
	curl := requireTool(t, "curl")
	e := newEnv(t)
	lease := e.lease("l-curl", ref(t, "acme/llm"), false)
	want := patternSum(seedBig, bigSize())

	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	// curl reads its header from a config on stdin, so the lease token is
	// not in argv (a habit worth keeping even for a worthless token).
	run := func(file string, extra ...string) (sum string, stderr string) {
		h := sha256.New()
		var errBuf bytes.Buffer
		args := append([]string{"-fsSL", "-K", "-", "--max-redirs", "3"}, extra...)
		cmd := exec.CommandContext(ctx, curl, append(args, e.url+"/acme/llm/resolve/main/"+file)...)
		cmd.Env = childEnv(e, lease)
		cmd.Stdin = strings.NewReader(`header = "Authorization: Bearer ` + lease + `"` + "\n")
		cmd.Stdout, cmd.Stderr = h, &errBuf
		if err := cmd.Run(); err != nil {
			t.Fatalf("curl %s: %v: %s", file, err, errBuf.String())
		}
		return hex.EncodeToString(h.Sum(nil)), errBuf.String()
	}
	if got, _ := run("big.bin"); got != want {
		t.Errorf("curl big.bin: sha256 %s, want %s", got, want)
	}
	ev := e.waitEvent(func(ev Event) bool { return strings.HasSuffix(ev.Path, "/big.bin") })
	if ev.Bytes != bigSize() || ev.Status != 200 {
		t.Errorf("audit of the big download: %+v, want %d bytes", ev, bigSize())
	}

	// The CDN file: curl follows the cross-host redirect itself.
	if got, _ := run("cdn.bin"); got != patternSum(seedCDN, cdnSize) {
		t.Errorf("curl cdn.bin via the CDN: sha256 %s, want %s", got, patternSum(seedCDN, cdnSize))
	}
	checkCDN(t, e, lease, "curl")
}

// checkCDN asserts the CDN never saw the real token, and records whether the
// client sent it the lease token (worthless outside the proxy).
func checkCDN(t *testing.T, e *env, lease, client string) {
	t.Helper()
	auths := e.up.cdnAuthorizations()
	if len(auths) == 0 {
		t.Fatalf("%s never reached the CDN", client)
	}
	for _, a := range auths {
		if strings.Contains(a, e.realToken) {
			t.Errorf("%s: the CDN saw the real token", client)
		}
		if strings.Contains(a, lease) {
			t.Logf("%s sent the lease token to the CDN on a cross-host redirect (worthless outside the proxy)", client)
		} else {
			t.Logf("%s sent no Authorization to the CDN", client)
		}
	}
}

// pythonChild downloads files the way a child in proxy mode would: it reads
// HF_TOKEN and HF_ENDPOINT from its environment and follows redirects with
// urllib's defaults.
const pythonChild = `
import hashlib, os, sys, urllib.request
ep, tok = os.environ["HF_ENDPOINT"], os.environ["HF_TOKEN"]
for name in sys.argv[1:]:
    req = urllib.request.Request(ep + "/acme/llm/resolve/main/" + name, headers={"Authorization": "Bearer " + tok})
    h = hashlib.sha256()
    with urllib.request.urlopen(req, timeout=120) as r:
        while True:
            b = r.read(1 << 20)
            if not b:
                break
            h.update(b)
    print(name, h.hexdigest())
`

func TestPythonURLLibDownloadsThroughTheProxy(t *testing.T) {
	python := requireTool(t, "python3")
	e := newEnv(t)
	lease := e.lease("l-py", ref(t, "acme/llm"), false)
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-c", pythonChild, "big.bin", "cdn.bin")
	cmd.Env = childEnv(e, lease)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	want := fmt.Sprintf("big.bin %s\ncdn.bin %s\n", patternSum(seedBig, bigSize()), patternSum(seedCDN, cdnSize))
	if got := stdout.String(); got != want {
		t.Errorf("python printed\n%s\nwant\n%s", got, want)
	}
	if strings.Contains(stdout.String()+stderr.String(), e.realToken) {
		t.Errorf("the child's output holds the real token")
	}
	checkCDN(t, e, lease, "python urllib")
}

func TestNewLeaseToken(t *testing.T) {
	shape := regexp.MustCompile(`^hf_[A-Za-z]{34}$`)
	seen := map[string]bool{}
	letters := map[rune]int{}
	for i := 0; i < 1000; i++ {
		tok, err := NewLeaseToken()
		if err != nil {
			t.Fatal(err)
		}
		if !shape.MatchString(tok) {
			t.Fatalf("token %q does not match %s", tok, shape)
		}
		if seen[tok] {
			t.Fatalf("token repeated after %d draws", i)
		}
		seen[tok] = true
		for _, r := range tok[3:] {
			letters[r]++
		}
	}
	// 34,000 draws over 52 letters: each is expected ~654 times. A letter
	// never drawn, or one drawn more than twice its share, means a broken
	// alphabet or a biased draw (chance of either when correct: far below
	// 1e-30).
	if len(letters) != 52 {
		t.Errorf("only %d distinct letters drawn, want 52", len(letters))
	}
	for r, n := range letters {
		if n > 2*34000/52 {
			t.Errorf("letter %q drawn %d times, over twice its share", r, n)
		}
	}
}

func TestTableLookup(t *testing.T) {
	tb := NewTable()
	a, _ := NewLeaseToken()
	b, _ := NewLeaseToken()
	tb.Add(a, Lease{ID: "l-a"})
	tb.Add(b, Lease{ID: "l-b"})
	if l, ok := tb.Lookup(a); !ok || l.ID != "l-a" {
		t.Errorf("Lookup(a) = %v %v, want l-a", l.ID, ok)
	}
	if _, ok := tb.Lookup(a[:len(a)-1]); ok {
		t.Errorf("a prefix of a token found a lease")
	}
	if n := tb.RemoveID("l-a"); n != 1 {
		t.Errorf("RemoveID removed %d, want 1", n)
	}
	if _, ok := tb.Lookup(a); ok {
		t.Errorf("a removed lease is still found")
	}
	tb.Remove(b)
	if _, ok := tb.Lookup(b); ok {
		t.Errorf("a removed token is still found")
	}
}

func TestNewServerBoundsHeaders(t *testing.T) {
	srv := NewServer(http.NotFoundHandler())
	if srv.ReadHeaderTimeout <= 0 || srv.MaxHeaderBytes <= 0 || srv.IdleTimeout <= 0 {
		t.Errorf("server limits not set: %+v", srv)
	}
	l, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if ip := l.Addr().(*net.TCPAddr).IP; !ip.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("Listen bound %v, want 127.0.0.1", ip)
	}
}

func TestNewWithoutLeasesPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("New without Leases did not panic")
		}
	}()
	New(Options{})
}

// TestEncodedOrCasedPathsAndMethodOverridesSlipPastTheLeaseCheck pins issue
// 19 item 7: the write and settings checks compared raw, case-sensitive
// segments, so PUT …/%73ettings and …/SETTINGS by a write lease, and GET
// …/xet-write-%74oken by a read lease, went upstream with the real token; and
// an X-HTTP-Method-Override header could turn a checked GET into a DELETE.
func TestEncodedOrCasedPathsAndMethodOverridesSlipPastTheLeaseCheck(t *testing.T) {
	e := newEnv(t)
	read := e.lease("l-read", ref(t, "acme/llm"), false)
	write := e.lease("l-write", ref(t, "acme/llm"), true)
	const settings = `{"private":false}`
	tests := []struct {
		name   string
		lease  string
		method string
		path   string
		hdr    []string
		body   string
	}{
		{name: "an encoded letter in settings", lease: write, method: "PUT", path: "/api/models/acme/llm/%73ettings", body: settings},
		{name: "an encoded lower-case hex letter in settings", lease: write, method: "PUT", path: "/api/models/acme/llm/setting%73", body: settings},
		{name: "SETTINGS in upper case", lease: write, method: "PUT", path: "/api/models/acme/llm/SETTINGS", body: settings},
		{name: "Settings in mixed case", lease: write, method: "PUT", path: "/api/models/acme/llm/Settings", body: settings},
		{name: "settings double-encoded", lease: write, method: "PUT", path: "/api/models/acme/llm/%2573ettings", body: settings},
		{name: "settings with an encoded slash after it", lease: write, method: "PUT", path: "/api/models/acme/llm/settings%2F", body: settings},
		{name: "settings behind an encoded slash", lease: write, method: "PUT", path: "/api/models/acme/llm/x%2Fsettings", body: settings},
		{name: "settings with a suffix", lease: write, method: "PUT", path: "/api/models/acme/llm/settings.json", body: settings},
		{name: "settings through an upper-case API prefix", lease: write, method: "PUT", path: "/API/MODELS/acme/llm/SETTINGS", body: settings},
		{name: "an encoded letter in xet-write-token on a read lease", lease: read, method: "GET", path: "/api/models/acme/llm/xet-write-%74oken/main"},
		{name: "XET-WRITE-TOKEN in upper case on a read lease", lease: read, method: "GET", path: "/api/models/acme/llm/XET-WRITE-TOKEN/main"},
		{name: "a read lease's GET overridden to DELETE", lease: read, method: "GET", path: "/api/models/acme/llm/branch/dev", hdr: []string{"X-HTTP-Method-Override", "DELETE"}},
		{name: "a read lease's GET overridden by X-HTTP-Method", lease: read, method: "GET", path: "/api/models/acme/llm/branch/dev", hdr: []string{"X-HTTP-Method", "DELETE"}},
		{name: "a read lease's GET overridden by X-Method-Override", lease: read, method: "GET", path: "/api/models/acme/llm/branch/dev", hdr: []string{"X-Method-Override", "DELETE"}},
		{name: "an override spelled with underscores", lease: read, method: "GET", path: "/api/models/acme/llm/branch/dev", hdr: []string{"x_http_method_override", "DELETE"}},
		{name: "a write lease's POST overridden to PUT settings by X-Original-URL", lease: write, method: "POST", path: "/api/models/acme/llm/commit/main", hdr: []string{"X-Original-URL", "/api/models/acme/llm/settings"}, body: settings},
		{name: "a read lease's GET overridden by a _method query", lease: read, method: "GET", path: "/api/models/acme/llm/branch/dev?_method=DELETE"},
		{name: "a _method query with an encoded key", lease: read, method: "GET", path: "/api/models/acme/llm/branch/dev?%5Fmethod=DELETE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			before := len(e.up.requests())
			// (do sets headers canonically: x_http_method_override stays
			// spelled with underscores.)
			res, _ := e.do(tc.method, tc.path, tc.lease, body, tc.hdr...)
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("status %d (%q), want 403", res.StatusCode, res.Header.Get("X-Error-Message"))
			}
			if len(e.up.requests()) > before {
				t.Errorf("the request reached upstream with the real token: %+v", e.up.requests()[before:])
			}
		})
	}

	// What is allowed is forwarded spelled exactly as it was checked.
	for _, p := range []string{"/api/models/acme/llm/revision/refs%2Fpr%2F1", "/api/models/acme/llm/revision/main", "/acme/llm/resolve/main/a%20b%2Bc.txt"} {
		e.do("GET", p, read, nil)
		if !e.up.reached("GET", p) {
			t.Errorf("GET %s did not reach upstream as spelled; upstream saw %+v", p, e.up.requests())
		}
	}
}
