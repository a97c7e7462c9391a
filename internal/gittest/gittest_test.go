package gittest

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// helperFor is a credential.helper that answers user and password for any
// request, the way a misconfigured helper would; the server decides.
func helperFor(user, password string) string {
	return "!f() { echo username=" + user + "; echo password=" + password + "; }; f"
}

// runGit runs git with CleanEnv and the given credential helper, from dir.
func runGit(t *testing.T, dir, helper string, args ...string) (string, error) {
	t.Helper()
	full := append([]string{"-c", "credential.helper=", "-c", "credential.helper=" + helper}, args...)
	cmd := exec.Command(LookGit(t), full...)
	cmd.Dir = dir
	cmd.Env = CleanEnv(t.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// serverHead reads a branch's commit id straight from the bare repository.
func serverHead(t *testing.T, s *Server, repo string) string {
	t.Helper()
	cmd := exec.Command(LookGit(t), "--git-dir="+s.RepoDir(repo), "rev-parse", "refs/heads/main")
	cmd.Env = CleanEnv(t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("rev-parse in %s: %v", repo, err)
	}
	return strings.TrimSpace(string(out))
}

// onlyUserP allows user "u" with password "p", reads always and writes when
// canWrite says so.
func onlyUserP(canWrite bool) func(user, password, repo string, write bool) bool {
	return func(user, password, repo string, write bool) bool {
		return user == "u" && password == "p" && (!write || canWrite)
	}
}

func TestCloneWithTheRightCredentialsWorks(t *testing.T) {
	s := New(t, Options{Authorize: onlyUserP(false)})
	s.CreateRepo("acme/llm")
	dst := filepath.Join(t.TempDir(), "llm")
	if out, err := runGit(t, "", helperFor("u", "p"), "clone", s.URL("acme/llm"), dst); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	readme, err := os.ReadFile(filepath.Join(dst, "README.md"))
	if err != nil || string(readme) != "# acme/llm\n" {
		t.Fatalf("README.md = %q, %v", readme, err)
	}
	log := s.Requests()
	if len(log) < 2 || log[0].User != "" || log[0].Status != http.StatusUnauthorized {
		t.Fatalf("first request should be an anonymous 401, log = %+v", log)
	}
	for _, r := range log[1:] {
		if r.User != "u" || r.Write || r.Status != http.StatusOK || r.Repo != "acme/llm" {
			t.Errorf("unexpected request after the challenge: %+v", r)
		}
	}
}

func TestCloneWithAWrongPasswordIsRefused(t *testing.T) {
	s := New(t, Options{Authorize: onlyUserP(true)})
	s.CreateRepo("acme/llm")
	dst := filepath.Join(t.TempDir(), "llm")
	out, err := runGit(t, "", helperFor("u", "wrong"), "clone", s.URL("acme/llm"), dst)
	if err == nil {
		t.Fatalf("clone with a wrong password succeeded:\n%s", out)
	}
	if !strings.Contains(out, "Authentication failed") {
		t.Errorf("git output does not report the refusal:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dst, "README.md")); err == nil {
		t.Errorf("the refused clone checked out files")
	}
	for _, r := range s.Requests() {
		if r.Status != http.StatusUnauthorized {
			t.Errorf("request got %d, want 401: %+v", r.Status, r)
		}
	}
}

// clonePushable clones repo and commits one new file, returning the work tree.
func clonePushable(t *testing.T, s *Server, repo string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "work")
	if out, err := runGit(t, "", helperFor("u", "p"), "clone", s.URL(repo), dst); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dst, "weights.txt"), []byte("42\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"add", "weights.txt"}, {"commit", "-q", "-m", "add weights"}} {
		if out, err := runGit(t, dst, helperFor("u", "p"), args...); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dst
}

func TestPushWithWritePermissionWorks(t *testing.T) {
	s := New(t, Options{Authorize: onlyUserP(true)})
	s.CreateRepo("datasets/acme/data")
	work := clonePushable(t, s, "datasets/acme/data")
	if out, err := runGit(t, work, helperFor("u", "p"), "push", "origin", "main"); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	local, err := exec.Command(LookGit(t), "-C", work, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := serverHead(t, s, "datasets/acme/data"); got != strings.TrimSpace(string(local)) {
		t.Fatalf("server main = %s, want the pushed %s", got, local)
	}
	var writes []Request
	for _, r := range s.Requests() {
		if r.Write {
			writes = append(writes, r)
		}
	}
	// Discovery (info/refs?service=git-receive-pack) and the POST.
	var sawDiscovery, sawPost bool
	for _, r := range writes {
		if r.Status != http.StatusOK && r.User != "" {
			t.Errorf("authenticated write got %d: %+v", r.Status, r)
		}
		sawDiscovery = sawDiscovery || (r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/info/refs") && r.Status == http.StatusOK)
		sawPost = sawPost || (r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/git-receive-pack") && r.Status == http.StatusOK)
	}
	if !sawDiscovery || !sawPost {
		t.Fatalf("want an authorized receive-pack discovery and POST, write log = %+v", writes)
	}
}

func TestPushIsRefusedWhenAuthorizeDeniesWrite(t *testing.T) {
	s := New(t, Options{Authorize: onlyUserP(false)})
	s.CreateRepo("acme/llm")
	before := serverHead(t, s, "acme/llm")
	work := clonePushable(t, s, "acme/llm")
	out, err := runGit(t, work, helperFor("u", "p"), "push", "origin", "main")
	if err == nil {
		t.Fatalf("push without write permission succeeded:\n%s", out)
	}
	if got := serverHead(t, s, "acme/llm"); got != before {
		t.Fatalf("server main moved from %s to %s", before, got)
	}
	for _, r := range s.Requests() {
		if r.Write && r.Status != http.StatusUnauthorized {
			t.Errorf("write request got %d, want 401: %+v", r.Status, r)
		}
	}
}

func TestAuthorizeSeesTheHubRepoPathAndWriteFlag(t *testing.T) {
	type call struct {
		repo  string
		write bool
	}
	var mu sync.Mutex
	var calls []call
	s := New(t, Options{Authorize: func(user, password, repo string, write bool) bool {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, call{repo, write})
		return true
	}})
	for _, repo := range []string{"acme/llm", "datasets/acme/data", "spaces/acme/demo"} {
		s.CreateRepo(repo)
	}
	tests := []struct {
		name string
		url  string
		want call
	}{
		{"a model URL names the model", s.URL("acme/llm"), call{"acme/llm", false}},
		{"a model URL with .git names the model", s.URL("acme/llm.git"), call{"acme/llm", false}},
		{"a dataset URL names the dataset", s.URL("datasets/acme/data"), call{"datasets/acme/data", false}},
		{"a space URL with .git names the space", s.URL("spaces/acme/demo.git"), call{"spaces/acme/demo", false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			calls = nil
			mu.Unlock()
			out, err := runGit(t, "", helperFor("u", "p"), "ls-remote", tc.url)
			if err != nil || !strings.Contains(out, "refs/heads/main") {
				t.Fatalf("ls-remote: %v\n%s", err, out)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(calls) == 0 {
				t.Fatal("Authorize was not called")
			}
			for _, c := range calls {
				if c != tc.want {
					t.Errorf("Authorize(%+v), want %+v", c, tc.want)
				}
			}
		})
	}
}

func TestEveryRequestNeedsBasicAuth(t *testing.T) {
	s := New(t, Options{})
	s.CreateRepo("acme/llm")
	for _, path := range []string{
		"/acme/llm/info/refs?service=git-upload-pack",
		"/acme/llm/info/refs?service=git-receive-pack",
		"/acme/llm/HEAD",
		"/not-a-repo",
	} {
		t.Run(path, func(t *testing.T) {
			resp, err := http.Get(s.Endpoint() + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status = %d, want 401", resp.StatusCode)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != `Basic realm="hfbroker-test"` {
				t.Fatalf("WWW-Authenticate = %q", got)
			}
		})
	}
	log := s.Requests()
	if len(log) != 4 || !log[1].Write || log[0].Write || log[2].Write {
		t.Fatalf("request log = %+v, want 4 entries with only the receive-pack discovery a write", log)
	}
}

func TestPathsOutsideTheHubLayoutAreNotFound(t *testing.T) {
	s := New(t, Options{})
	s.CreateRepo("acme/llm")
	for _, path := range []string{"/acme", "/datasets/acme", "/models/acme/llm/info/refs", "/acme/../llm/info/refs", "/acme/.hidden/info/refs"} {
		t.Run(path, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, s.Endpoint()+path, nil)
			req.SetBasicAuth("u", "p")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("status = %d, want 404", resp.StatusCode)
			}
		})
	}
}

func TestSplitRepoPath(t *testing.T) {
	tests := []struct{ in, repo, suffix string }{
		{"/acme/llm", "acme/llm", ""},
		{"/acme/llm.git/info/refs", "acme/llm", "/info/refs"},
		{"/datasets/acme/data/git-upload-pack", "datasets/acme/data", "/git-upload-pack"},
		{"/spaces/acme/demo.git/git-receive-pack", "spaces/acme/demo", "/git-receive-pack"},
	}
	for _, tc := range tests {
		repo, suffix, ok := splitRepoPath(tc.in)
		if !ok || repo != tc.repo || suffix != tc.suffix {
			t.Errorf("splitRepoPath(%q) = %q, %q, %v", tc.in, repo, suffix, ok)
		}
	}
}
