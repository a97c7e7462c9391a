//go:build unix

package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/hfbroker/hfbroker/internal/gittest"
	"github.com/hfbroker/hfbroker/internal/hub"
)

// The git scripts (testdata/script/git-*.txtar) drive the real git binary
// through hfbroker's credential helper against a real smart-HTTP server
// (internal/gittest) that demands Basic auth and asks the script's fake Hub
// whether each token may read or write each repository. That server and the
// Hub's API share one origin, the profile's endpoint, because the helper
// answers only for the endpoint's host: /api/ goes to the fake Hub and every
// other path to git http-backend.

func init() {
	for name, cmd := range map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"git-server":   cmdGitServer,
		"git-auth":     cmdGitAuth,
		"cred-request": cmdCredRequest,
	} {
		extraCmds[name] = cmd
	}
}

// gitAuth is one credential the git server was shown: which token (never
// logged: tests compare it with a script variable), for which repository,
// for reading or writing, and whether the Hub allowed it.
type gitAuth struct {
	repo    string
	token   string
	write   bool
	allowed bool
}

// gitOrigin is a script's git server plus Hub API on one origin.
type gitOrigin struct {
	git   *gittest.Server
	front *httptest.Server
	mu    sync.Mutex
	auths []gitAuth
}

func (o *gitOrigin) authLog() []gitAuth {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]gitAuth(nil), o.auths...)
}

var (
	gitOriginsMu sync.Mutex
	gitOrigins   = map[*testscript.TestScript]*gitOrigin{}
)

func scriptGit(ts *testscript.TestScript) *gitOrigin {
	gitOriginsMu.Lock()
	defer gitOriginsMu.Unlock()
	o := gitOrigins[ts]
	if o == nil {
		ts.Fatalf("no git server: run git-server first")
	}
	return o
}

// git-server [-lfs] [-prefix P] REPO...: start the script's git server with these
// repositories (each with one commit on main) in front of its fake Hub, and
// point HF_ENDPOINT at it. Sets GITSRV (the base URL) and GITHOST
// (host:port). With -lfs it serves the LFS batch API as the Hub does
// (gittest.Options.LFS), echoing the credential it was sent in the actions'
// headers.
func cmdGitServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("usage: git-server [-lfs] [-prefix P] REPO...")
	}
	lfs := len(args) > 0 && args[0] == "-lfs"
	if lfs {
		args = args[1:]
	}
	// -prefix P serves the Hub and its git below /P, as a mirror may: the
	// endpoint (HF_ENDPOINT, $GITSRV) is then the origin plus /P.
	prefix := ""
	if len(args) > 1 && args[0] == "-prefix" {
		prefix, args = "/"+strings.Trim(args[1], "/"), args[2:]
	}
	hubSrv := scriptHub(ts)
	o := &gitOrigin{}
	o.git = gittest.New(newScriptTB(ts), gittest.Options{
		LFS:               lfs,
		LFSEchoCredential: lfs,
		Authorize: func(user, password, repoPath string, write bool) bool {
			ok := false
			if ref, err := hub.ParseRepo(repoPath, hub.RepoModel); err == nil {
				ok = hubSrv.Authorize(password, ref, write)
			}
			o.mu.Lock()
			o.auths = append(o.auths, gitAuth{repo: repoPath, token: password, write: write, allowed: ok})
			o.mu.Unlock()
			return ok
		},
	})
	for _, r := range args {
		o.git.CreateRepo(r)
	}
	hubURL, err := url.Parse(hubSrv.URL())
	ts.Check(err)
	gitURL, err := url.Parse(o.git.Endpoint())
	ts.Check(err)
	toHub := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(hubURL) }}
	// The git server keeps the front's Host: the LFS verify URLs it hands
	// out are on the Hub's origin, as the Hub's are.
	toGit := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(gitURL); r.Out.Host = r.In.Host }}
	o.front = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if prefix != "" {
			rest, ok := strings.CutPrefix(r.URL.Path, prefix+"/")
			if !ok {
				http.NotFound(w, r)
				return
			}
			r.URL.Path, r.URL.RawPath = "/"+rest, ""
		}
		if strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.URL.Path, "/oauth/") {
			toHub.ServeHTTP(w, r)
			return
		}
		toGit.ServeHTTP(w, r)
	}))
	ts.Defer(o.front.Close)

	gitOriginsMu.Lock()
	gitOrigins[ts] = o
	gitOriginsMu.Unlock()
	ts.Defer(func() {
		gitOriginsMu.Lock()
		delete(gitOrigins, ts)
		gitOriginsMu.Unlock()
	})
	ts.Setenv("HF_ENDPOINT", o.front.URL+prefix)
	ts.Setenv("GITSRV", o.front.URL+prefix)
	ts.Setenv("GITHOST", strings.TrimPrefix(o.front.URL, "http://"))
}

// git-auth read|write REPO VAR allowed|refused: the git server was shown
// $VAR for REPO, to fetch or to push, and the fake Hub allowed or refused it.
// With !, and only REPO VAR: no request for REPO carried $VAR.
func cmdGitAuth(ts *testscript.TestScript, neg bool, args []string) {
	usage := func() { ts.Fatalf("usage: git-auth read|write REPO VAR allowed|refused; ! git-auth REPO VAR") }
	if neg {
		if len(args) != 2 {
			usage()
		}
		args = []string{"", args[0], args[1], ""}
	} else if len(args) != 4 || (args[0] != "read" && args[0] != "write") || (args[3] != "allowed" && args[3] != "refused") {
		usage()
	}
	write, repo, tok, wantAllowed := args[0] == "write", args[1], ts.Getenv(args[2]), args[3] == "allowed"
	if tok == "" {
		ts.Fatalf("$%s is empty", args[2])
	}
	var shown, found bool
	var seen []string
	for _, a := range scriptGit(ts).authLog() {
		if a.repo != repo {
			continue
		}
		seen = append(seen, fmt.Sprintf("%s write=%v allowed=%v", tokenName(ts, a.token), a.write, a.allowed))
		if a.token == tok {
			shown = true
			if a.write == write && a.allowed == wantAllowed {
				found = true
			}
		}
	}
	switch {
	case neg && shown:
		ts.Fatalf("the git server was shown $%s for %s: %v", args[2], repo, seen)
	case !neg && !found:
		ts.Fatalf("the git server did not see $%s %s for %s %s; it saw %v", args[2], args[3], args[0], repo, seen)
	}
}

// tokenName names a token by the script variable holding it, so a failure
// message never prints a token.
func tokenName(ts *testscript.TestScript, tok string) string {
	for _, v := range scriptTokenVars {
		if tok != "" && ts.Getenv(v) == tok {
			return "$" + v
		}
	}
	if tok == "" {
		return "no token"
	}
	return "another token"
}

// scriptTokenVars are the variables that hold tokens in the scripts: the
// harness's cast and those hub-token sets in the git scripts.
var scriptTokenVars = []string{"TOKEN_WRITE", "TOKEN_READ", "TOKEN_FG", "TOKEN_UNKNOWN", "ORG_TOKEN", "TOKEN_BETA"}

// cred-request FILE KEY=VALUE...: write a git credential request, one
// attribute a line and a blank line after, for a helper's stdin.
func cmdCredRequest(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: cred-request FILE KEY=VALUE...")
	}
	var b bytes.Buffer
	for _, kv := range args[1:] {
		b.WriteString(kv + "\n")
	}
	b.WriteString("\n")
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), b.Bytes(), 0o600))
}

// scriptTB lets gittest, written for Go tests, live as long as one script:
// its temp dirs and cleanups belong to the script, its failures fail the
// script, and http-backend's log lines (written from server goroutines) are
// kept until the script ends. Calling any other testing.TB method panics on
// the nil embedded interface, which would show at once.
type scriptTB struct {
	testing.TB
	ts  *testscript.TestScript
	mu  sync.Mutex
	log []string
}

func newScriptTB(ts *testscript.TestScript) *scriptTB {
	s := &scriptTB{ts: ts}
	// Defer from the script's goroutine: Logf runs on server goroutines.
	ts.Defer(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.log) > 0 {
			ts.Logf("%s", strings.Join(s.log, "\n"))
		}
	})
	return s
}

func (s *scriptTB) Helper() {}

func (s *scriptTB) TempDir() string {
	dir, err := os.MkdirTemp("", "hfbgit")
	s.ts.Check(err)
	s.ts.Defer(func() { os.RemoveAll(dir) })
	return dir
}

func (s *scriptTB) Cleanup(f func()) { s.ts.Defer(f) }

func (s *scriptTB) Fatalf(format string, args ...any) { s.ts.Fatalf(format, args...) }

// Skipf fails: a script cannot skip itself from Go, and gittest skips only
// where git is missing and optional, which the git scripts do not allow.
func (s *scriptTB) Skipf(format string, args ...any) { s.ts.Fatalf(format, args...) }

func (s *scriptTB) Logf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, fmt.Sprintf(format, args...))
}
