package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hfbroker/hfbroker/internal/hub"
	"github.com/hfbroker/hfbroker/internal/hubapi"
)

func TestParseRoute(t *testing.T) {
	model := func(ns, name string) hub.RepoRef { return hub.RepoRef{Type: hub.RepoModel, Namespace: ns, Name: name} }
	dataset := func(ns, name string) hub.RepoRef {
		return hub.RepoRef{Type: hub.RepoDataset, Namespace: ns, Name: name}
	}
	space := func(ns, name string) hub.RepoRef { return hub.RepoRef{Type: hub.RepoSpace, Namespace: ns, Name: name} }
	tests := []struct {
		name string
		path string
		kind routeKind
		repo hub.RepoRef
		rest string // rest joined by "/"
	}{
		{name: "whoami is its own route", path: "/api/whoami-v2", kind: routeWhoami},
		{name: "model info is a repo API call", path: "/api/models/acme/llm", kind: routeRepoAPI, repo: model("acme", "llm")},
		{name: "a revision is below the repo", path: "/api/models/acme/llm/revision/main", kind: routeRepoAPI, repo: model("acme", "llm"), rest: "revision/main"},
		{name: "a dataset tree is below the dataset", path: "/api/datasets/acme/corpus/tree/main/data", kind: routeRepoAPI, repo: dataset("acme", "corpus"), rest: "tree/main/data"},
		{name: "a space's xet write token is below the space", path: "/api/spaces/acme/demo/xet-write-token/main", kind: routeRepoAPI, repo: space("acme", "demo"), rest: "xet-write-token/main"},
		{name: "a PR revision keeps its encoded slashes", path: "/api/models/acme/llm/revision/refs%2Fpr%2F1", kind: routeRepoAPI, repo: model("acme", "llm"), rest: "revision/refs%2Fpr%2F1"},
		{name: "a trailing slash is harmless", path: "/api/models/acme/llm/", kind: routeRepoAPI, repo: model("acme", "llm")},
		{name: "model listing is a list route", path: "/api/models", kind: routeList, repo: hub.RepoRef{Type: hub.RepoModel}},
		{name: "a model download is a resolve", path: "/acme/llm/resolve/main/config.json", kind: routeResolve, repo: model("acme", "llm"), rest: "resolve/main/config.json"},
		{name: "a nested file is a resolve", path: "/acme/llm/resolve/main/a/b/c.bin", kind: routeResolve, repo: model("acme", "llm"), rest: "resolve/main/a/b/c.bin"},
		{name: "a dataset download is a resolve", path: "/datasets/acme/corpus/resolve/main/x.parquet", kind: routeResolve, repo: dataset("acme", "corpus"), rest: "resolve/main/x.parquet"},
		{name: "a space download is a resolve", path: "/spaces/acme/demo/resolve/main/app.py", kind: routeResolve, repo: space("acme", "demo"), rest: "resolve/main/app.py"},
		{name: "the resolve cache is a download", path: "/api/resolve-cache/models/acme/llm/abc/config.json", kind: routeResolveCache, repo: model("acme", "llm"), rest: "abc/config.json"},
		{name: "the LFS batch API is an LFS route", path: "/acme/llm.git/info/lfs/objects/batch", kind: routeLFS, repo: model("acme", "llm"), rest: "info/lfs/objects/batch"},
		{name: "a dataset LFS batch is an LFS route", path: "/datasets/acme/corpus.git/info/lfs/objects/batch", kind: routeLFS, repo: dataset("acme", "corpus"), rest: "info/lfs/objects/batch"},
		{name: "the case of a repo id is kept", path: "/api/models/Acme/LLM", kind: routeRepoAPI, repo: model("Acme", "LLM")},

		{name: "the root is refused", path: "/"},
		{name: "a token settings page is refused", path: "/api/settings/tokens"},
		{name: "repo creation is refused", path: "/api/repos/create"},
		{name: "oauth is refused", path: "/oauth/token"},
		{name: "a namespace-less legacy id is refused", path: "/api/models/gpt2"},
		{name: "a repo's web page is refused", path: "/acme/llm"},
		{name: "a repo's tree page is refused", path: "/acme/llm/tree/main"},
		{name: "a resolve without a file is refused", path: "/acme/llm/resolve/main"},
		{name: "a models/ web prefix is refused", path: "/models/acme/llm/resolve/main/x"},
		{name: "git's dumb protocol (info/refs without a service) is refused", path: "/acme/llm.git/info/refs"},
		{name: "git-receive-pack is a git route", path: "/acme/llm.git/git-receive-pack", kind: routeGit, repo: model("acme", "llm"), rest: "git-receive-pack"},
		{name: "a dot-dot segment is refused", path: "/api/models/acme/llm/../../settings/tokens"},
		{name: "a dot segment is refused", path: "/api/models/acme/./llm"},
		{name: "an encoded dot-dot segment is refused", path: "/api/models/acme/llm/%2e%2e/x"},
		{name: "a dot-dot hidden behind an encoded slash is refused", path: "/api/models/acme/llm/revision/..%2F..%2Fother"},
		{name: "a dot-dot hidden behind an encoded backslash is refused", path: "/acme/llm/resolve/main/..%5C..%5Cx"},
		{name: "an empty segment is refused", path: "/api/models//acme/llm"},
		{name: "an encoded slash in the namespace is refused", path: "/api/models/acme%2Fllm/x"},
		{name: "an encoded letter in the name is refused", path: "/api/models/acme/ll%6D"},
		{name: "a NUL is refused", path: "/acme/llm/resolve/main/a%00b"},
		{name: "a newline is refused", path: "/acme/llm/resolve/main/a%0Ab"},
		{name: "bad percent-encoding is refused", path: "/acme/llm/resolve/main/a%zz"},
		{name: "a path without a leading slash is refused", path: "*"},
		{name: "a route word is read without regard to case", path: "/API/Models/acme/llm/SETTINGS", kind: routeRepoAPI, repo: model("acme", "llm"), rest: "SETTINGS"},
		{name: "an upper-case resolve is a resolve", path: "/acme/llm/RESOLVE/main/x", kind: routeResolve, repo: model("acme", "llm"), rest: "RESOLVE/main/x"},
		{name: "an encoded space and plus in a file name pass", path: "/acme/llm/resolve/main/a%20b%2Bc", kind: routeResolve, repo: model("acme", "llm"), rest: "resolve/main/a%20b%2Bc"},
		{name: "an encoded letter in a sub-route is refused", path: "/api/models/acme/llm/%73ettings"},
		{name: "an encoded letter in a file name is refused", path: "/acme/llm/resolve/main/%61.txt"},
		{name: "an encoded tilde is refused", path: "/acme/llm/resolve/main/%7Ex"},
		{name: "double encoding is refused", path: "/acme/llm/resolve/main/%252e%252e"},
		{name: "an encoded slash in a sub-route is refused", path: "/api/models/acme/llm/settings%2F"},
		{name: "a sub-route with a dot is refused", path: "/api/models/acme/llm/settings.json"},
		{name: "an encoded route word is refused", path: "/acme/llm/re%73olve/main/x"},
		{name: "an LFS word with an encoded slash is refused", path: "/acme/llm.git/info/lfs/objects%2Fbatch"},
		{name: "an overlong path is refused", path: "/acme/llm/resolve/main/" + strings.Repeat("a", maxPathLen)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt, err := parseRoute(tc.path)
			if tc.kind == 0 {
				if err == nil {
					t.Fatalf("parseRoute(%q) = %+v, want an error", tc.path, rt)
				}
				if !strings.HasPrefix(err.Error(), "path not allowed through the hfbroker proxy") {
					t.Errorf("error %q does not start with the reason clients see", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseRoute(%q): %v", tc.path, err)
			}
			if rt.kind != tc.kind || rt.repo != tc.repo || strings.Join(rt.rest, "/") != tc.rest {
				t.Errorf("parseRoute(%q) = %+v, want kind %d repo %+v rest %q", tc.path, rt, tc.kind, tc.repo, tc.rest)
			}
		})
	}
}

// TestParseGitRequest: git's smart HTTP, fetch and push (issue 15: git on a
// remote goes through the forwarded proxy). What decides read or write, the
// service, is read as strictly as a path: exactly as git sends it.
func TestParseGitRequest(t *testing.T) {
	model := func(ns, name string) hub.RepoRef { return hub.RepoRef{Type: hub.RepoModel, Namespace: ns, Name: name} }
	tests := []struct {
		name    string
		path    string
		query   string
		repo    hub.RepoRef // zero: refused
		service string
	}{
		{name: "a fetch's discovery", path: "/acme/llm.git/info/refs", query: "service=git-upload-pack", repo: model("acme", "llm"), service: gitUploadPack},
		{name: "a push's discovery", path: "/acme/llm.git/info/refs", query: "service=git-receive-pack", repo: model("acme", "llm"), service: gitReceivePack},
		{name: "a fetch", path: "/acme/llm.git/git-upload-pack", repo: model("acme", "llm"), service: gitUploadPack},
		{name: "a push", path: "/acme/llm.git/git-receive-pack", repo: model("acme", "llm"), service: gitReceivePack},
		{name: "a clone URL without .git", path: "/acme/llm/info/refs", query: "service=git-upload-pack", repo: model("acme", "llm"), service: gitUploadPack},
		{name: "a push without .git", path: "/acme/llm/git-receive-pack", repo: model("acme", "llm"), service: gitReceivePack},
		{name: "a dataset", path: "/datasets/acme/corpus.git/info/refs", query: "service=git-receive-pack", repo: hub.RepoRef{Type: hub.RepoDataset, Namespace: "acme", Name: "corpus"}, service: gitReceivePack},
		{name: "a space without .git", path: "/spaces/acme/demo/git-upload-pack", repo: hub.RepoRef{Type: hub.RepoSpace, Namespace: "acme", Name: "demo"}, service: gitUploadPack},
		{name: "an upper-case service word is still a push", path: "/acme/llm.git/GIT-RECEIVE-PACK", repo: model("acme", "llm"), service: gitReceivePack},
		{name: "a trailing slash is harmless", path: "/acme/llm.git/git-upload-pack/", repo: model("acme", "llm"), service: gitUploadPack},

		{name: "the dumb protocol is refused", path: "/acme/llm.git/info/refs"},
		{name: "an unknown service is refused", path: "/acme/llm.git/info/refs", query: "service=git-upload-archive"},
		{name: "a second service is refused", path: "/acme/llm.git/info/refs", query: "service=git-upload-pack&service=git-receive-pack"},
		{name: "a second parameter is refused", path: "/acme/llm.git/info/refs", query: "service=git-upload-pack&x=1"},
		{name: "an encoded service is refused", path: "/acme/llm.git/info/refs", query: "service=git%2Dreceive-pack"},
		{name: "a service behind a semicolon is refused", path: "/acme/llm.git/info/refs", query: "x=1;service=git-upload-pack"},
		{name: "a service of another case is refused", path: "/acme/llm.git/info/refs", query: "SERVICE=git-upload-pack"},
		{name: "receive-pack in the query of an upload-pack path is refused", path: "/acme/llm.git/git-upload-pack", query: "service=git-receive-pack"},
		{name: "any query on a service is refused", path: "/acme/llm.git/git-receive-pack", query: "x"},
		{name: "an encoded dot-dot before the service is refused", path: "/acme/llm.git/%2e%2e/git-upload-pack"},
		{name: "a dot-dot out of the repo is refused", path: "/acme/other/../llm.git/git-receive-pack"},
		{name: "an encoded letter in the service word is refused", path: "/acme/llm.git/git-receive-p%61ck"},
		{name: "an encoded slash in info/refs is refused", path: "/acme/llm.git/info%2Frefs", query: "service=git-upload-pack"},
		{name: "an encoded repo name is refused", path: "/acme/ll%6D.git/git-upload-pack"},
		{name: "a service below the service is refused", path: "/acme/llm.git/git-upload-pack/x"},
		{name: "a service without a repo name is refused", path: "/acme/git-upload-pack"},
		{name: "a models/ prefix is refused", path: "/models/acme/llm.git/git-upload-pack"},
		{name: "a namespace-less repo is refused", path: "/llm.git/info/refs", query: "service=git-upload-pack"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt, err := parseRequest(tc.path, tc.query)
			if tc.repo == (hub.RepoRef{}) {
				if err == nil {
					t.Fatalf("parseRequest(%q, %q) = %+v, want an error", tc.path, tc.query, rt)
				}
				if !strings.HasPrefix(err.Error(), "path not allowed through the hfbroker proxy") {
					t.Errorf("error %q does not start with the reason clients see", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseRequest(%q, %q): %v", tc.path, tc.query, err)
			}
			if rt.kind != routeGit || rt.repo != tc.repo || rt.service != tc.service {
				t.Errorf("parseRequest(%q, %q) = %+v, want a git route to %+v for %s", tc.path, tc.query, rt, tc.repo, tc.service)
			}
		})
	}
}

// FuzzParseRoute checks that whatever parseRoute accepts names a valid repo
// in plain segments, holds no dot segment, decoded or not, decodes without
// ambiguity (no encoded unreserved character, no double encoding), and that
// the lease check reads the settings and xet-write-token routes as the Hub
// does: decoded and without regard to case (issue 19 item 7).
func FuzzParseRoute(f *testing.F) {
	for _, s := range []string{
		"/api/whoami-v2", "/api/models/acme/llm/revision/refs%2Fpr%2F1", "/acme/llm/resolve/main/a/b",
		"/datasets/acme/c.git/info/lfs/objects/batch", "/api/resolve-cache/spaces/a/b/c/d",
		"/api/models/acme/llm/..%2F..", "/acme/llm/resolve/main/%2e%2e",
		"/api/models/acme/llm/%73ettings", "/API/Datasets/acme/llm/SETTINGS", "/api/models/acme/llm/xet-write-%2574oken/main",
		"/acme/llm.git/git-receive-pack", "/spaces/acme/demo/git-upload-pack", "/acme/llm.git/%2e%2e/git-receive-pack",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		rt, err := parseRoute(p)
		if err != nil {
			return
		}
		if rt.kind != routeWhoami && rt.kind != routeList {
			if !hubapi.ValidRepoParts(rt.repo.Namespace, rt.repo.Name) {
				t.Fatalf("%q: accepted repo %+v is not plain", p, rt.repo)
			}
			if !strings.Contains(p, "/"+rt.repo.Namespace+"/"+rt.repo.Name) {
				t.Fatalf("%q: repo %s is not spelled plainly in the path", p, rt.repo.ID())
			}
		}
		dec, err := url.PathUnescape(p)
		if err != nil {
			t.Fatalf("%q: accepted with bad escapes", p)
		}
		for _, part := range strings.FieldsFunc(dec, func(r rune) bool { return r == '/' || r == '\\' }) {
			if part == "." || part == ".." {
				t.Fatalf("%q: accepted a dot segment", p)
			}
		}
		for i := 0; i+2 < len(p); i++ {
			if p[i] == '%' {
				if c, err := url.PathUnescape(p[i : i+3]); err == nil && isUnreserved(c[0]) {
					t.Fatalf("%q: accepted a percent-encoded %q", p, c)
				}
			}
		}
		for _, seg := range strings.Split(p, "/") {
			d, _ := url.PathUnescape(seg)
			if d2, err := url.PathUnescape(d); err == nil && d2 != d {
				t.Fatalf("%q: accepted segment %q, which decodes twice", p, seg)
			}
		}
		// A path the Hub would read as a push (decoded, in any case) is a
		// push to the lease check too.
		if strings.HasSuffix(strings.ToLower(strings.TrimSuffix(dec, "/")), "/"+gitReceivePack) && rt.service != gitReceivePack {
			t.Fatalf("%q: read as %+v, not as a push", p, rt)
		}
		// Read the path as a Hub that decodes everything, encoded slashes
		// included, and ignores case: its settings and xet-write-token
		// routes must get the refusals the proxy gives them.
		hubSegs := strings.Split(strings.Trim(strings.ToLower(dec), "/"), "/")
		if len(hubSegs) < 5 || hubSegs[0] != "api" || !isTypeWord(hubSegs[1]) {
			return
		}
		repo := hub.RepoRef{Type: typeOf(hubSegs[1]), Namespace: hubSegs[2], Name: hubSegs[3]}
		switch hubSegs[4] {
		case "settings":
			if v := decide(Lease{ID: "w", Repo: &repo, Write: true}, "PUT", rt, p); v.allow {
				t.Fatalf("%q: a write lease may PUT what the Hub reads as settings", p)
			}
		case "xet-write-token":
			if v := decide(Lease{ID: "r", Repo: &repo}, "GET", rt, p); v.allow {
				t.Fatalf("%q: a read lease may GET what the Hub reads as a Xet write token", p)
			}
		}
	})
}

func TestDecide(t *testing.T) {
	llm := ref(t, "acme/llm")
	read := Lease{ID: "l-r", Repo: llm}
	write := Lease{ID: "l-w", Repo: llm, Write: true}
	anyRead := Lease{ID: "l-any"}
	tests := []struct {
		name      string
		lease     Lease
		method    string
		path      string
		want      bool
		wantBatch bool
	}{
		{name: "whoami is allowed to a repo lease", lease: read, method: "GET", path: "/api/whoami-v2", want: true},
		{name: "HEAD on a download is a read", lease: read, method: "HEAD", path: "/acme/llm/resolve/main/x", want: true},
		{name: "a read lease reads ACME/LLM as acme/llm", lease: read, method: "GET", path: "/api/models/ACME/LLM", want: true},
		{name: "a read lease posts paths-info", lease: read, method: "POST", path: "/api/models/acme/llm/paths-info/main", want: true},
		{name: "a read lease cannot DELETE a branch", lease: read, method: "DELETE", path: "/api/models/acme/llm/branch/dev", want: false},
		{name: "a write lease DELETEs a branch", lease: write, method: "DELETE", path: "/api/models/acme/llm/branch/dev", want: true},
		{name: "a write lease PATCHes nothing outside its repo", lease: write, method: "PATCH", path: "/api/models/acme/other", want: false},
		{name: "a write lease cannot PUT settings", lease: write, method: "PUT", path: "/api/models/acme/llm/settings", want: false},
		{name: "a read lease may GET settings", lease: read, method: "GET", path: "/api/models/acme/llm/settings", want: true},
		{name: "a read lease's LFS batch needs the body checked", lease: read, method: "POST", path: "/acme/llm.git/info/lfs/objects/batch", wantBatch: true},
		{name: "a read lease cannot LFS verify", lease: read, method: "POST", path: "/acme/llm.git/info/lfs/objects/verify", want: false},
		{name: "a read lease lists LFS locks", lease: read, method: "GET", path: "/acme/llm.git/info/lfs/locks", want: true},
		{name: "a write lease posts an LFS batch unread", lease: write, method: "POST", path: "/acme/llm.git/info/lfs/objects/batch", want: true},
		{name: "a write lease LFS verifies an upload", lease: write, method: "POST", path: "/acme/llm.git/info/lfs/objects/verify", want: true},
		{name: "a read lease lists LFS locks before a push", lease: read, method: "POST", path: "/acme/llm.git/info/lfs/locks/verify", want: true},
		{name: "a read lease cannot create an LFS lock", lease: read, method: "POST", path: "/acme/llm.git/info/lfs/locks", want: false},
		{name: "a read lease cannot unlock", lease: read, method: "POST", path: "/acme/llm.git/info/lfs/locks/abc/unlock", want: false},
		{name: "a write lease unlocks", lease: write, method: "POST", path: "/acme/llm.git/info/lfs/locks/abc/unlock", want: true},
		{name: "a write lease cannot DELETE LFS locks", lease: write, method: "DELETE", path: "/acme/llm.git/info/lfs/locks", want: false},
		{name: "the LFS batch is not a GET", lease: write, method: "GET", path: "/acme/llm.git/info/lfs/objects/batch", want: false},
		{name: "an LFS route the Hub does not serve is refused", lease: write, method: "POST", path: "/acme/llm.git/info/lfs/objects/ab12", want: false},
		{name: "the legacy LFS object API is refused", lease: write, method: "GET", path: "/acme/llm.git/info/lfs/objects/ab12", want: false},
		{name: "a read lease downloads from the resolve cache", lease: read, method: "GET", path: "/api/resolve-cache/models/acme/llm/abc/x", want: true},
		{name: "a resolve-cache of another repo is refused", lease: read, method: "GET", path: "/api/resolve-cache/models/acme/other/abc/x", want: false},
		{name: "an any-repo lease reads any repo", lease: anyRead, method: "GET", path: "/api/datasets/x/y", want: true},
		{name: "an any-repo read lease cannot write", lease: anyRead, method: "POST", path: "/api/datasets/x/y/commit/main", want: false},
		{name: "an any-repo lease lists datasets", lease: anyRead, method: "GET", path: "/api/datasets", want: true},
		{name: "a read lease fetches with git", lease: read, method: "GET", path: "/acme/llm.git/info/refs?service=git-upload-pack", want: true},
		{name: "a read lease posts git-upload-pack", lease: read, method: "POST", path: "/acme/llm.git/git-upload-pack", want: true},
		{name: "a read lease cannot discover a git push", lease: read, method: "GET", path: "/acme/llm.git/info/refs?service=git-receive-pack", want: false},
		{name: "a read lease cannot git push", lease: read, method: "POST", path: "/acme/llm/git-receive-pack", want: false},
		{name: "a write lease discovers a git push", lease: write, method: "GET", path: "/acme/llm/info/refs?service=git-receive-pack", want: true},
		{name: "a write lease git pushes", lease: write, method: "POST", path: "/acme/llm.git/git-receive-pack", want: true},
		{name: "a write lease cannot git push to another repo", lease: write, method: "POST", path: "/acme/other.git/git-receive-pack", want: false},
		{name: "a write lease cannot git push to a dataset of the same name", lease: write, method: "POST", path: "/datasets/acme/llm.git/git-receive-pack", want: false},
		{name: "git's discovery is not a POST", lease: write, method: "POST", path: "/acme/llm.git/info/refs?service=git-upload-pack", want: false},
		{name: "git's services are not a GET", lease: write, method: "GET", path: "/acme/llm.git/git-upload-pack", want: false},
		{name: "git's services are not a PUT", lease: write, method: "PUT", path: "/acme/llm.git/git-receive-pack", want: false},
		{name: "CONNECT is refused", lease: write, method: "CONNECT", path: "/api/models/acme/llm", want: false},
		{name: "OPTIONS is refused", lease: write, method: http.MethodOptions, path: "/api/models/acme/llm", want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path, query, _ := strings.Cut(tc.path, "?")
			rt, err := parseRequest(path, query)
			if err != nil {
				t.Fatal(err)
			}
			v := decide(tc.lease, tc.method, rt, path)
			if v.allow != tc.want || v.needDownloadBatch != tc.wantBatch {
				t.Errorf("decide = %+v, want allow %v batch %v", v, tc.want, tc.wantBatch)
			}
			if !v.allow && !v.needDownloadBatch && v.reason == "" {
				t.Errorf("a refusal without a reason")
			}
		})
	}
}

func TestIsDownloadBatch(t *testing.T) {
	tests := []struct {
		name string
		body string
		ok   bool
	}{
		{name: "a git-lfs download batch is a download", body: `{"operation":"download","transfers":["basic"],"objects":[{"oid":"a","size":1}]}`, ok: true},
		{name: "the operation may come last", body: `{"objects":[],"operation":"download"}`, ok: true},
		{name: "whitespace around the object is fine", body: " \n{\"operation\" : \"download\"}\n", ok: true},
		{name: "an escaped key is read as the parser reads it", body: `{"op\u0065ration":"download"}`, ok: true},
		{name: "an upload is not a download", body: `{"operation":"upload"}`},
		{name: "a duplicate operation key is refused", body: `{"operation":"download","operation":"upload"}`},
		{name: "the same operation twice is still refused", body: `{"operation":"download","operation":"download"}`},
		{name: "no operation is refused", body: `{"objects":[]}`},
		{name: "an operation nested deeper does not count", body: `{"x":{"operation":"download"}}`},
		{name: "a non-string operation is refused", body: `{"operation":["download"]}`},
		{name: "a differently cased value is refused", body: `{"operation":"Download"}`},
		{name: "trailing data is refused", body: `{"operation":"download"}{"operation":"upload"}`},
		{name: "an array is refused", body: `[{"operation":"download"}]`},
		{name: "truncated JSON is refused", body: `{"operation":"download"`},
		{name: "an empty body is refused", body: ``},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := isDownloadBatch([]byte(tc.body))
			if (err == nil) != tc.ok {
				t.Errorf("isDownloadBatch(%s) = %v, want ok %v", tc.body, err, tc.ok)
			}
		})
	}
}

// FuzzIsDownloadBatch checks the body check against encoding/json: whatever
// it accepts decodes to an object whose operation is "download".
func FuzzIsDownloadBatch(f *testing.F) {
	for _, s := range []string{`{"operation":"download"}`, `{"operation":"upload"}`, `{"operation":"download","operation":"upload"}`, `{"a":[1,{"b":2}],"operation":"download"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if isDownloadBatch(b) != nil {
			return
		}
		// A map keeps keys exactly as sent (a struct would match
		// "Operation" too), as the Hub's JSON parser does.
		var m map[string]json.RawMessage
		var op string
		if err := jsonUnmarshalStrict(b, &m); err != nil {
			t.Fatalf("%q accepted but does not decode: %v", b, err)
		}
		if err := json.Unmarshal(m["operation"], &op); err != nil || op != "download" {
			t.Fatalf("%q accepted but its operation is %q (%v)", b, op, err)
		}
	})
}

func TestRewriteURL(t *testing.T) {
	up := &url.URL{Scheme: "https", Host: "huggingface.co"}
	const base = "http://127.0.0.1:5000"
	tests := []struct {
		name, in, want string
	}{
		{name: "a Hub URL points at the proxy", in: "https://huggingface.co/api/models/x/y/xet-read-token/main", want: base + "/api/models/x/y/xet-read-token/main"},
		{name: "the query and fragment are kept byte for byte", in: "https://huggingface.co/a%2Fb?x=1&y=%20#f", want: base + "/a%2Fb?x=1&y=%20#f"},
		{name: "the default port counts as the same origin", in: "https://huggingface.co:443/a", want: base + "/a"},
		{name: "the host is compared without case", in: "HTTPS://HuggingFace.co/a", want: base + "/a"},
		{name: "a bare origin becomes the base", in: "https://huggingface.co", want: base},
		{name: "a CDN URL is untouched", in: "https://cdn-lfs.hf.co/repos/a?Signature=x", want: "https://cdn-lfs.hf.co/repos/a?Signature=x"},
		{name: "a subdomain is another host", in: "https://cas-bridge.xethub.hf.co/x", want: "https://cas-bridge.xethub.hf.co/x"},
		{name: "plain http is another origin", in: "http://huggingface.co/a", want: "http://huggingface.co/a"},
		{name: "another port is another origin", in: "https://huggingface.co:8443/a", want: "https://huggingface.co:8443/a"},
		{name: "a relative URL is untouched", in: "/api/resolve-cache/models/a/b/c/d", want: "/api/resolve-cache/models/a/b/c/d"},
		{name: "a URL with userinfo is untouched", in: "https://u@huggingface.co/a", want: "https://u@huggingface.co/a"},
		{name: "a host that merely starts like the Hub is untouched", in: "https://huggingface.co.evil.example/a", want: "https://huggingface.co.evil.example/a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := rewriteURL(tc.in, up, base); got != tc.want {
				t.Errorf("rewriteURL(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestRewriteLink(t *testing.T) {
	up := &url.URL{Scheme: "https", Host: "huggingface.co"}
	const base = "http://127.0.0.1:5000"
	in := `<https://huggingface.co/api/models/a/b/xet-read-token/main>; rel="xet-auth", <https://cas-server.xethub.hf.co/reconstruction/h>; rel="xet-reconstruction-info"`
	want := `<` + base + `/api/models/a/b/xet-read-token/main>; rel="xet-auth", <https://cas-server.xethub.hf.co/reconstruction/h>; rel="xet-reconstruction-info"`
	if got := rewriteLink(in, up, base); got != want {
		t.Errorf("rewriteLink =\n%s\nwant\n%s", got, want)
	}
	for _, odd := range []string{"", "no brackets", "<unterminated", "<https://huggingface.co/a"} {
		if got := rewriteLink(odd, up, base); got != odd {
			t.Errorf("rewriteLink(%q) = %q, want it unchanged", odd, got)
		}
	}
}

// jsonUnmarshalStrict decodes one JSON value and refuses trailing data.
func jsonUnmarshalStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data")
	}
	return nil
}

func TestLoopbackHost(t *testing.T) {
	tests := []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1:8080", true},
		{"127.0.0.1", true},
		{"127.5.6.7:1", true},
		{"localhost:8080", true},
		{"LOCALHOST", true},
		{"[::1]:8080", true},
		{"[::1]", true},
		{"", false},
		{"evil.example", false},
		{"evil.example:8080", false},
		{"10.0.0.1:80", false},
		{"127.0.0.1:80/evil", false},
		{"127.0.0.1:", false},
		{"localhost.evil.example", false},
		{"127.0.0.1.nip.io:80", false},
	}
	for _, tc := range tests {
		if got := loopbackHost(tc.host); got != tc.ok {
			t.Errorf("loopbackHost(%q) = %v, want %v", tc.host, got, tc.ok)
		}
	}
}
