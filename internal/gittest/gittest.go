// Package gittest runs a real git smart-HTTP server (git http-backend behind
// net/http/cgi) on 127.0.0.1 with the Hub's repository URL layout, for tests
// that drive the real git binary through hfbroker's credential helper.
package gittest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Realm is the Basic realm of the server's WWW-Authenticate challenge.
const Realm = "hfbroker-test"

// OptionalEnv names the environment variable that lets tests skip when git
// is not installed. Without it a missing git fails the test: CI installs git.
const OptionalEnv = "HFBROKER_TEST_OPTIONAL_GIT"

// Options configures a Server.
type Options struct {
	// Authorize decides every request that carries Basic credentials.
	// repoPath is the repository in the Hub's layout without ".git"
	// ("acme/llm", "datasets/acme/data", "spaces/acme/demo"); write is true
	// for git-receive-pack, both its info/refs discovery and its POST.
	// Nil accepts any credentials; a request without them is refused
	// either way.
	Authorize func(user, password, repoPath string, write bool) bool
	// LFS serves the Git LFS batch API as the Hub does (lfs.go), with
	// presigned upload and download URLs on a second loopback server.
	LFS bool
	// LFSEchoCredential makes the batch answer echo the request's
	// credential in its actions' headers, to prove that a proxy scrubs
	// it: as sent, in the verify action's Authorization, and as Basic in
	// X-Echo-Basic of every action.
	LFSEchoCredential bool
}

// Request is one entry of the server's request log. The password is not
// recorded.
type Request struct {
	Method string
	Path   string // URL path as the client sent it
	Repo   string // repository in the Hub's layout, "" when the path names none
	User   string // Basic user name, "" when none was sent
	Write  bool
	Status int
}

// Server is a git smart-HTTP server over bare repositories in a temp dir.
type Server struct {
	t       testing.TB
	git     string
	root    string // GIT_PROJECT_ROOT
	home    string // HOME for git processes the server runs
	srv     *httptest.Server
	mu      sync.Mutex
	log     []Request
	opts    Options
	baseEnv []string
	lfs     *lfsStore // nil without Options.LFS
}

// New starts a server on 127.0.0.1; it stops when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	git := LookGit(t)
	s := &Server{
		t:    t,
		git:  git,
		root: t.TempDir(),
		home: t.TempDir(),
		opts: opts,
	}
	s.baseEnv = []string{
		"GIT_PROJECT_ROOT=" + s.root,
		"GIT_HTTP_EXPORT_ALL=1",
		"GIT_CONFIG_NOSYSTEM=1",
		"HOME=" + s.home,
		"XDG_CONFIG_HOME=" + filepath.Join(s.home, ".config"),
		// http-backend only serves receive-pack to an authenticated
		// REMOTE_USER by default; enable it outright, since this server
		// does its own authentication in front.
		"GIT_CONFIG_COUNT=1",
		"GIT_CONFIG_KEY_0=http.receivepack",
		"GIT_CONFIG_VALUE_0=true",
	}
	if opts.LFS {
		s.lfs = newLFSStore()
		t.Cleanup(s.lfs.storage.Close)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	t.Cleanup(s.srv.Close)
	return s
}

// LookGit returns the path of the git binary, failing the test when it is
// missing unless OptionalEnv is set.
func LookGit(t testing.TB) string {
	t.Helper()
	git, err := exec.LookPath("git")
	if err != nil {
		if os.Getenv(OptionalEnv) != "" {
			t.Skipf("git is not installed and %s is set", OptionalEnv)
		}
		t.Fatalf("git is required for this test (set %s=1 to skip without it): %v", OptionalEnv, err)
	}
	return git
}

// LookGitLFS fails the test when git-lfs is missing, unless OptionalEnv is
// set: CI installs it (the Debian package git-lfs).
func LookGitLFS(t testing.TB) {
	t.Helper()
	LookGit(t)
	if _, err := exec.LookPath("git-lfs"); err != nil {
		if os.Getenv(OptionalEnv) != "" {
			t.Skipf("git-lfs is not installed and %s is set", OptionalEnv)
		}
		t.Fatalf("git-lfs is required for this test (apt-get install git-lfs; set %s=1 to skip without it): %v", OptionalEnv, err)
	}
}

// URL returns the clone URL of a repository in the Hub's layout, e.g.
// URL("acme/llm") = "http://127.0.0.1:PORT/acme/llm".
func (s *Server) URL(path string) string {
	return s.srv.URL + "/" + strings.TrimPrefix(path, "/")
}

// Endpoint is the server's base URL, "http://127.0.0.1:PORT".
func (s *Server) Endpoint() string { return s.srv.URL }

// RepoDir is the bare repository's directory on disk.
func (s *Server) RepoDir(path string) string {
	return filepath.Join(s.root, filepath.FromSlash(strings.TrimSuffix(path, ".git"))+".git")
}

// Requests returns a copy of the request log, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// CreateRepo creates a bare repository at path ("acme/llm",
// "datasets/acme/data", "spaces/acme/demo") with one commit on main holding
// README.md. The commit is built with git fast-import and fixed dates, so its
// id is the same on every run.
func (s *Server) CreateRepo(path string) {
	s.t.Helper()
	repo, _, ok := splitRepoPath("/" + path)
	if !ok {
		s.t.Fatalf("CreateRepo(%q): not a Hub repository path", path)
	}
	dir := s.RepoDir(repo)
	s.run("", nil, "init", "--quiet", "--bare", "--initial-branch=main", dir)
	readme := "# " + repo + "\n"
	stream := fmt.Sprintf("commit refs/heads/main\n"+
		"author Test <test@example.com> 1700000000 +0000\n"+
		"committer Test <test@example.com> 1700000000 +0000\n"+
		"data 15\ninitial commit\n"+
		"M 644 inline README.md\ndata %d\n%s\n", len(readme), readme)
	s.run(dir, strings.NewReader(stream), "fast-import", "--quiet")
}

// run runs git with a clean environment, in gitDir when it is set.
func (s *Server) run(gitDir string, stdin *strings.Reader, args ...string) {
	s.t.Helper()
	cmd := exec.Command(s.git, args...)
	cmd.Env = CleanEnv(s.home)
	if gitDir != "" {
		cmd.Env = append(cmd.Env, "GIT_DIR="+gitDir)
	}
	if stdin != nil {
		cmd.Stdin = stdin
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// CleanEnv is a minimal environment for running git in tests: nothing from
// the machine's or the user's git config leaks in, and git never prompts.
func CleanEnv(home string) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	return []string{
		"PATH=" + path,
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_ASKPASS=",
		"SSH_ASKPASS=",
		"LC_ALL=C",
		"GIT_AUTHOR_NAME=Test",
		"GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Test",
		"GIT_COMMITTER_EMAIL=test@example.com",
	}
}

// statusRecorder remembers the status the CGI handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w}
	repo, suffix, ok := splitRepoPath(r.URL.Path)
	// Both halves of a push are writes: refusing only the POST would let
	// a read credential learn the refs it may not push to, and the Hub
	// asks for write access at discovery too.
	write := suffix == "/git-receive-pack" ||
		(suffix == "/info/refs" && r.URL.Query().Get("service") == "git-receive-pack")
	user, password, hasAuth := r.BasicAuth()
	entry := Request{Method: r.Method, Path: r.URL.Path, Repo: repo, User: user, Write: write}
	defer func() {
		entry.Status = rec.status
		s.mu.Lock()
		s.log = append(s.log, entry)
		s.mu.Unlock()
	}()

	challenge := func() {
		rec.Header().Set("WWW-Authenticate", `Basic realm="`+Realm+`"`)
		http.Error(rec, "authentication required", http.StatusUnauthorized)
	}
	if lfsRest, isLFS := strings.CutPrefix(suffix, "/info/lfs/"); isLFS && ok && s.lfs != nil {
		// The LFS API takes Basic or Bearer, and its own error shape.
		user, password, hasAuth := credentials(r)
		entry.User = user
		if !hasAuth {
			rec.Header().Set("LFS-Authenticate", `Basic realm="`+Realm+`"`)
			rec.Header().Set("Content-Type", "application/vnd.git-lfs+json")
			rec.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(rec, `{"message":"credentials needed"}`)
			return
		}
		s.serveLFS(rec, r, repo, "/"+lfsRest, user, password)
		return
	}
	if !hasAuth {
		challenge()
		return
	}
	if !ok {
		http.NotFound(rec, r)
		return
	}
	if s.opts.Authorize != nil && !s.opts.Authorize(user, password, repo, write) {
		challenge()
		return
	}
	// Hand http-backend the on-disk name, "<repo>.git", whichever form
	// the client used.
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/" + repo + ".git" + suffix
	r2.URL.RawPath = ""
	if r2.ContentLength < 0 {
		// git sends a pack over http.postBuffer (1 MiB) chunked, as the
		// Hub accepts; net/http/cgi refuses chunked bodies (CGI wants a
		// CONTENT_LENGTH), so this test server reads the body first.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(rec, "read body", http.StatusBadRequest)
			return
		}
		r2.Body, r2.ContentLength, r2.TransferEncoding = io.NopCloser(bytes.NewReader(body)), int64(len(body)), nil
	}
	h := &cgi.Handler{
		Path: s.git,
		Args: []string{"http-backend"},
		Env:  append(append([]string(nil), s.baseEnv...), "REMOTE_USER="+user),
		// http-backend's stderr (e.g. "Repository not exported") helps
		// when a test fails; it goes to the test log.
		Stderr: testWriter{s.t},
	}
	h.ServeHTTP(rec, r2)
}

// splitRepoPath splits a URL path in the Hub's layout into the repository
// ("acme/llm", "datasets/acme/data", "spaces/acme/demo", without ".git")
// and the rest ("/info/refs", "/git-upload-pack", "" …).
func splitRepoPath(p string) (repo, suffix string, ok bool) {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	n := 2
	if len(parts) > 0 && (parts[0] == "datasets" || parts[0] == "spaces") {
		n = 3
	}
	if len(parts) < n {
		return "", "", false
	}
	parts[n-1] = strings.TrimSuffix(parts[n-1], ".git")
	for _, seg := range parts[:n] {
		if seg == "" || seg == "." || seg == ".." || strings.HasPrefix(seg, ".") {
			return "", "", false
		}
	}
	if parts[0] == "models" {
		return "", "", false
	}
	repo = strings.Join(parts[:n], "/")
	if rest := parts[n:]; len(rest) > 0 {
		suffix = "/" + strings.Join(rest, "/")
	}
	if strings.Contains(suffix, "..") {
		return "", "", false
	}
	return repo, suffix, true
}

// testWriter sends a child's stderr to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	if msg := bytes.TrimRight(b, "\n"); len(msg) > 0 {
		w.t.Logf("git http-backend: %s", msg)
	}
	return len(b), nil
}
