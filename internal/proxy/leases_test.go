package proxy

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/hfbroker/hfbroker/internal/hub"
	"github.com/hfbroker/hfbroker/internal/secret"
)

// leaseWith registers a lease built by the test and returns its token.
func (e *env) leaseWith(l Lease) string {
	e.t.Helper()
	tok, err := NewLeaseToken()
	if err != nil {
		e.t.Fatal(err)
	}
	l.Endpoint, l.Token = e.up.hub.URL, secret.Token(e.realToken)
	e.leases.Add(tok, l)
	return tok
}

func repoPattern(t testing.TB, s string) hub.RepoRef {
	t.Helper()
	r, err := hub.ParseRepoPattern(s, hub.RepoModel)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// hfError mirrors the branches of huggingface_hub's hf_raise_for_status
// (src/huggingface_hub/utils/_http.py at 01dd37b) that a proxy refusal can
// reach, in their order, and returns the exception it raises:
//
//	if error_code == "RevisionNotFound": ...          -> RevisionNotFoundError
//	elif error_code == "EntryNotFound": ...           -> EntryNotFoundError
//	elif error_code == "GatedRepo": ...               -> GatedRepoError
//	elif error_message == "Access to this resource is disabled.": -> DisabledRepoError
//	elif error_code == "RepoNotFound" or (response.status_code == 401
//	     and REPO_API_REGEX.search(response.request.url)): -> RepositoryNotFoundError
//	elif response.status_code == 400:                 -> BadRequestError
//	elif response.status_code == 403:                 -> HfHubHTTPError "403 Forbidden: <X-Error-Message>."
//	else                                              -> HfHubHTTPError
//
// and, for the HEAD of a download, what file_download.py
// _raise_on_head_call_error makes of it: RepositoryNotFoundError,
// GatedRepoError and any 401 are raised as they are; everything else becomes
// LocalEntryNotFoundError ("... check your connection").
func hfError(method, url string, res *http.Response) string {
	code, msg := res.Header.Get("X-Error-Code"), res.Header.Get("X-Error-Message")
	repoAPI := regexp.MustCompile(`^https://[^/]+(/api/(models|datasets|spaces)/(.+)|/(.+)/resolve/(.+))`)
	var cls string
	switch {
	case res.StatusCode < 400:
		return ""
	case code == "RevisionNotFound":
		cls = "RevisionNotFoundError"
	case code == "EntryNotFound":
		cls = "EntryNotFoundError"
	case code == "GatedRepo":
		cls = "GatedRepoError"
	case msg == "Access to this resource is disabled.":
		cls = "DisabledRepoError"
	case code == "RepoNotFound" || (res.StatusCode == 401 && repoAPI.MatchString(url)):
		cls = "RepositoryNotFoundError"
	case res.StatusCode == 400:
		cls = "BadRequestError"
	default:
		cls = "HfHubHTTPError"
	}
	if method == http.MethodHead && strings.Contains(url, "/resolve/") &&
		cls != "RepositoryNotFoundError" && cls != "GatedRepoError" && res.StatusCode != 401 {
		return "LocalEntryNotFoundError"
	}
	return cls
}

// Issue 20: a lease for several repos (one written, a dataset read, a
// namespace pattern) enforces exactly that set, and each refusal answers as
// the Hub would, so that huggingface_hub raises the matching error.
func TestALeaseForSeveralReposEnforcesExactlyItsSet(t *testing.T) {
	e := newEnv(t)
	multi := e.leaseWith(Lease{ID: "l-multi", Repos: []Grant{
		{Repo: *ref(t, "acme/llm"), Write: true},
		{Repo: *ref(t, "datasets/acme/corpus")},
		{Repo: repoPattern(t, "datasets/acme-data/*")},
	}})
	tests := []struct {
		name, method, path string
		want               int
		code, reason, hf   string
	}{
		{name: "the written repo takes a commit", method: "POST", path: "/api/models/acme/llm/commit/main", want: 200},
		{name: "the read dataset downloads", method: "GET", path: "/datasets/acme/corpus/resolve/main/small.bin", want: 200},
		{name: "the read dataset takes no commit", method: "POST", path: "/api/datasets/acme/corpus/commit/main", want: 403,
			reason: "lease l-multi may only read datasets/acme/corpus (POST /api/datasets/acme/corpus/commit/main); add --write-repo datasets/acme/corpus", hf: "HfHubHTTPError"},
		{name: "the pattern covers a dataset of its namespace", method: "GET", path: "/api/datasets/acme-data/anything/revision/main", want: 404, code: "EntryNotFound"},
		{name: "the pattern does not cover a model of its namespace", method: "HEAD", path: "/acme-data/anything/resolve/main/small.bin", want: 404, code: "RepoNotFound",
			reason: "lease l-multi covers acme/llm, datasets/acme/corpus, datasets/acme-data/* only; add --repo acme-data/anything", hf: "RepositoryNotFoundError"},
		{name: "a private repo outside the lease is not found, on HEAD too", method: "HEAD", path: "/acme/secret/resolve/main/small.bin", want: 404, code: "RepoNotFound",
			reason: "add --repo acme/secret", hf: "RepositoryNotFoundError"},
		{name: "a public repo outside a lease without read-through is not found", method: "GET", path: "/pub/model/resolve/main/small.bin", want: 404, code: "RepoNotFound",
			reason: "add --repo pub/model", hf: "RepositoryNotFoundError"},
		{name: "a write outside the lease names --write-repo", method: "POST", path: "/api/models/acme/other/commit/main", want: 404, code: "RepoNotFound",
			reason: "add --write-repo acme/other", hf: "RepositoryNotFoundError"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body *strings.Reader
			if tc.method == "POST" {
				body = strings.NewReader(`{}`)
			}
			var res *http.Response
			if body != nil {
				res, _ = e.do(tc.method, tc.path, multi, body)
			} else {
				res, _ = e.do(tc.method, tc.path, multi, nil)
			}
			if res.StatusCode != tc.want || res.Header.Get("X-Error-Code") != tc.code {
				t.Fatalf("%s %s: %d %q %q, want %d %q", tc.method, tc.path, res.StatusCode, res.Header.Get("X-Error-Code"), res.Header.Get("X-Error-Message"), tc.want, tc.code)
			}
			if msg := res.Header.Get("X-Error-Message"); !strings.Contains(msg, tc.reason) {
				t.Errorf("X-Error-Message %q lacks %q", msg, tc.reason)
			}
			if tc.hf != "" {
				if got := hfError(tc.method, e.url+tc.path, res); got != tc.hf {
					t.Errorf("huggingface_hub would raise %s, want %s", got, tc.hf)
				}
			}
		})
	}
}

// Issue 20: a lease with public read-through reads public repos it does not
// name, asking the Hub once a minute per repo; private repos outside it are
// the Hub's not-found; a gated repo gets the Hub's own GatedRepo answer.
func TestPublicReadThrough(t *testing.T) {
	e := newEnv(t)
	l := e.leaseWith(Lease{ID: "l-pub", Repo: ref(t, "acme/llm"), Public: true})
	for i := range 3 {
		res, _ := e.do("GET", "/pub/model/resolve/main/small.bin", l, nil)
		if res.StatusCode != 200 {
			t.Fatalf("public repo, try %d: %d %q", i, res.StatusCode, res.Header.Get("X-Error-Message"))
		}
	}
	asked := 0
	for _, r := range e.up.requests() {
		if r.Path == "/api/models/pub/model" {
			asked++
			if r.Header.Get("Authorization") != "Bearer "+e.realToken {
				t.Error("the visibility was not asked with the lease's real token")
			}
		}
	}
	if asked != 1 {
		t.Errorf("the Hub was asked %d times whether pub/model is public, want once (cached)", asked)
	}

	for _, tc := range []struct{ method, path, code, reason, hf string }{
		{"HEAD", "/acme/secret/resolve/main/small.bin", "RepoNotFound", "lease l-pub covers acme/llm only (and public repos); add --repo acme/secret", "RepositoryNotFoundError"},
		{"GET", "/api/models/nobody/missing/revision/main", "RepoNotFound", "add --repo nobody/missing", "RepositoryNotFoundError"},
		{"HEAD", "/pub/gated/resolve/main/small.bin", "GatedRepo", "", "GatedRepoError"},
		{"GET", "/api/models/pub/model/xet-write-token/main", "RepoNotFound", "add --write-repo pub/model", "RepositoryNotFoundError"},
		// auth_check(write=True): the real token may write pub/model; the
		// lease may not.
		{"GET", "/api/models/pub/model/auth-check/write", "RepoNotFound", "add --write-repo pub/model", "RepositoryNotFoundError"},
	} {
		res, _ := e.do(tc.method, tc.path, l, nil)
		if res.Header.Get("X-Error-Code") != tc.code || !strings.Contains(res.Header.Get("X-Error-Message"), tc.reason) {
			t.Errorf("%s %s: %d %q %q, want %s with %q", tc.method, tc.path, res.StatusCode, res.Header.Get("X-Error-Code"), res.Header.Get("X-Error-Message"), tc.code, tc.reason)
		}
		if got := hfError(tc.method, e.url+tc.path, res); got != tc.hf {
			t.Errorf("%s %s: huggingface_hub would raise %s, want %s", tc.method, tc.path, got, tc.hf)
		}
	}
	if e.up.reached("HEAD", "/acme/secret/resolve/main/small.bin") {
		t.Error("a private repo outside the lease was reached")
	}
	// An LFS batch download is a read: it too needs the repo public.
	res, _ := e.do("POST", "/acme/secret.git/info/lfs/objects/batch", l, strings.NewReader(`{"operation":"download","objects":[]}`))
	if res.StatusCode != 404 || res.Header.Get("X-Error-Code") != "RepoNotFound" || e.up.reached("POST", "/acme/secret.git/info/lfs/objects/batch") {
		t.Errorf("LFS download batch on a private repo outside the lease: %d %q", res.StatusCode, res.Header.Get("X-Error-Message"))
	}
	// A commit to a public repo outside the lease is not a read.
	res, _ = e.do("POST", "/api/models/pub/model/commit/main", l, strings.NewReader("{}"))
	if res.StatusCode != 404 || !strings.Contains(res.Header.Get("X-Error-Message"), "add --write-repo pub/model") {
		t.Errorf("commit to a public repo outside the lease: %d %q", res.StatusCode, res.Header.Get("X-Error-Message"))
	}
}

// A Hub that cannot answer about a repo's visibility now (429, 5xx) gets a
// 502, and its non-answer is not remembered as "private" for a minute.
func TestPublicReadThroughRemembersNoNonAnswer(t *testing.T) {
	e := newEnv(t)
	l := e.leaseWith(Lease{ID: "l-busy", Repo: ref(t, "acme/llm"), Public: true})
	for range 2 {
		res, _ := e.do("GET", "/busy/model/resolve/main/x", l, nil)
		if res.StatusCode != http.StatusBadGateway || !strings.Contains(res.Header.Get("X-Error-Message"), "answered 429") {
			t.Fatalf("%d %q, want 502 naming the 429", res.StatusCode, res.Header.Get("X-Error-Message"))
		}
	}
	asked := 0
	for _, r := range e.up.requests() {
		if r.Path == "/api/models/busy/model" {
			asked++
		}
	}
	if asked != 2 {
		t.Errorf("asked %d times, want 2: a 429 is not an answer to cache", asked)
	}
}

// Issue 20: huggingface_hub reported the proxy's 403 on the HEAD of a
// download as LocalEntryNotFoundError "... check your connection": a repo
// outside the lease must be the Hub's 404 RepoNotFound instead.
func TestARefusedDownloadIsNotAConnectionError(t *testing.T) {
	e := newEnv(t)
	l := e.lease("l-one", ref(t, "acme/llm"), false)
	path := "/acme/other/resolve/main/config.json"
	res, _ := e.do("HEAD", path, l, nil)
	if got := hfError("HEAD", e.url+path, res); got != "RepositoryNotFoundError" {
		t.Fatalf("HEAD outside the lease: %d %q: huggingface_hub raises %s, want RepositoryNotFoundError", res.StatusCode, res.Header.Get("X-Error-Code"), got)
	}
}

// Issue 20: a lease token whose lease ended gets 401 naming the lease and
// why it ended, from the proxy's memory of the token's keyed hash.
func TestAnEndedLeaseSaysWhyItEnded(t *testing.T) {
	real, _ := NewLeaseToken()
	up := newUpstream(t, real)
	tab := NewTable()
	p := New(Options{Leases: tab, EndedCause: func(id string) (string, bool) {
		return "its TTL passed", id == "l-ttl"
	}})
	t.Cleanup(p.Close)
	tok, _ := NewLeaseToken()
	tab.Add(tok, Lease{ID: "l-ttl", Endpoint: up.hub.URL, Token: secret.Token(real)})
	if n := tab.RemoveID("l-ttl"); n != 1 {
		t.Fatalf("RemoveID removed %d", n)
	}
	for k := range tab.dead {
		if strings.Contains(string(k[:]), tok) {
			t.Fatal("the dead-token memory holds the token")
		}
	}
	req, _ := http.NewRequest("HEAD", "http://127.0.0.1:1/acme/llm/resolve/main/x", nil)
	req.Host = "127.0.0.1:1"
	req.Header.Set("Authorization", "Bearer "+tok)
	w := newRecorder()
	p.ServeHTTP(w, req)
	const want = "lease l-ttl ended: its TTL passed; start the job again for a new lease"
	if w.code != 401 || w.h.Get("X-Error-Message") != want {
		t.Fatalf("ended lease: %d %q, want 401 %q", w.code, w.h.Get("X-Error-Message"), want)
	}
	// On a HEAD, a 401 is raised as it is, not as a connection error.
	if got := hfError("HEAD", "http://127.0.0.1:1/acme/llm/resolve/main/x", &http.Response{StatusCode: w.code, Header: w.h}); got != "HfHubHTTPError" {
		t.Errorf("huggingface_hub would raise %s", got)
	}
	other, _ := NewLeaseToken()
	if _, ok := tab.Ended(other); ok {
		t.Error("an unknown token is taken for an ended lease")
	}
}

type recorder struct {
	h    http.Header
	code int
}

func newRecorder() *recorder                    { return &recorder{h: http.Header{}} }
func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) WriteHeader(c int)           { r.code = c }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
