package proxy

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hfbroker/hfbroker/internal/gittest"
	"github.com/hfbroker/hfbroker/internal/secret"
)

// gitEnv is a proxy in front of a real git smart-HTTP server that takes the
// real token only, as a Basic password (the Hub's git endpoint does).
type gitEnv struct {
	*env
	git   *gittest.Server
	home  string // HOME of every git run; "" for a new one each run
	mu    sync.Mutex
	shown []string // "REPO write=BOOL ok=BOOL" for each credential the server saw
}

func newGitEnv(t *testing.T) *gitEnv { t.Helper(); return newGitEnvWith(t, gittest.Options{}) }

// newGitEnvWith is newGitEnv with the git server's LFS options.
func newGitEnvWith(t *testing.T, o gittest.Options) *gitEnv {
	t.Helper()
	e := &gitEnv{env: newEnv(t)}
	o.Authorize = func(user, password, repo string, write bool) bool {
		ok := password == e.realToken
		e.mu.Lock()
		e.shown = append(e.shown, repo+" write="+map[bool]string{true: "true", false: "false"}[write]+" ok="+map[bool]string{true: "true", false: "false"}[ok])
		e.mu.Unlock()
		return ok
	}
	e.git = gittest.New(t, o)
	e.git.CreateRepo("acme/llm")
	e.git.CreateRepo("acme/other")
	return e
}

func (e *gitEnv) lease(id, repo string, write bool) string {
	e.t.Helper()
	tok, err := NewLeaseToken()
	if err != nil {
		e.t.Fatal(err)
	}
	e.leases.Add(tok, Lease{ID: id, Endpoint: e.git.Endpoint(), Token: secret.Token(e.realToken), Repo: ref(e.t, repo), Write: write})
	return tok
}

// run runs git in dir with a credential helper that answers leaseToken, as
// hfbroker's git helper does on a remote; it returns git's output.
func (e *gitEnv) run(t *testing.T, dir, leaseToken string, args ...string) (string, error) {
	t.Helper()
	return e.runEnv(t, dir, leaseToken, nil, args...)
}

// runEnv is run with more environment variables.
func (e *gitEnv) runEnv(t *testing.T, dir, leaseToken string, env []string, args ...string) (string, error) {
	t.Helper()
	home := e.home
	if home == "" {
		home = t.TempDir()
	}
	cmd := exec.Command(gittest.LookGit(t), append([]string{
		"-c", `credential.helper=!f() { test "$1" = get && printf 'username=hf_user\npassword=%s\n' "$LEASE"; }; f`,
	}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(append(gittest.CleanEnv(home), "LEASE="+leaseToken), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if (batchRewrite{real: e.realToken}).carriesToken(out.String()) {
		t.Errorf("git's output holds the real token")
	}
	return out.String(), err
}

// TestGitFetchesAndPushesThroughTheProxy (issue 15): git on a remote reaches
// the Hub's git endpoint through the proxy with a lease token as its Basic
// password; a read lease clones and its push is refused with the reason in
// git's own error output, a write lease pushes, a repo outside the lease is
// "not found", and the git server sees the real token only.
func TestGitFetchesAndPushesThroughTheProxy(t *testing.T) {
	e := newGitEnv(t)
	read := e.lease("l-read", "acme/llm", false)
	write := e.lease("l-write", "acme/llm", true)
	work := t.TempDir()

	out, err := e.run(t, work, read, "clone", "-q", e.url+"/acme/llm", "a")
	if err != nil {
		t.Fatalf("clone with a read lease: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(work, "a", "README.md")); err != nil {
		t.Fatalf("the clone has no README.md: %v", err)
	}
	repo := filepath.Join(work, "a")
	if out, err := e.run(t, repo, read, "commit", "-q", "--allow-empty", "-m", "x"); err != nil {
		t.Fatalf("commit: %v\n%s", err, out)
	}

	out, err = e.run(t, repo, read, "push", "origin", "main")
	if err == nil {
		t.Fatalf("a push with a read lease worked:\n%s", out)
	}
	const why = "remote: hfbroker proxy: lease l-read may only read acme/llm (git push); add --write-repo acme/llm"
	if !strings.Contains(out, why) {
		t.Errorf("git's output does not give the reason %q:\n%s", why, out)
	}

	// A pack over git's 1 MiB post buffer goes up chunked, streamed.
	big := make([]byte, 3<<20)
	_, _ = rand.Read(big)
	if err := os.WriteFile(filepath.Join(repo, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := e.run(t, repo, write, "add", "big.bin"); err != nil {
		t.Fatalf("add: %v\n%s", err, out)
	}
	if out, err := e.run(t, repo, write, "commit", "-q", "-m", "big"); err != nil {
		t.Fatalf("commit: %v\n%s", err, out)
	}
	out, err = e.run(t, repo, write, "push", "origin", "main")
	if err != nil {
		t.Fatalf("a push with a write lease: %v\n%s", err, out)
	}
	if !strings.Contains(out, "main -> main") {
		t.Errorf("the push did not update main:\n%s", out)
	}

	out, err = e.run(t, work, write, "clone", "-q", e.url+"/acme/other.git", "b")
	if err == nil {
		t.Fatalf("a clone outside the lease worked:\n%s", out)
	}
	if !strings.Contains(out, "remote: hfbroker proxy: Repository not found: lease l-write covers acme/llm only") {
		t.Errorf("a repo outside the lease is not shown as not found:\n%s", out)
	}

	e.leases.Remove(read)
	out, err = e.run(t, work, read, "clone", "-q", e.url+"/acme/llm", "c")
	if err == nil || !strings.Contains(out, "remote: hfbroker proxy: lease l-read ended") {
		t.Errorf("a clone with an ended lease: err %v, output:\n%s", err, out)
	}

	// What reached the git server: the real token only, and never for a
	// push that the read lease made or for the other repo.
	e.mu.Lock()
	shown := strings.Join(e.shown, "\n")
	e.mu.Unlock()
	if strings.Contains(shown, "ok=false") || strings.Contains(shown, "acme/other") {
		t.Errorf("the git server saw a credential it refused or a request for acme/other:\n%s", shown)
	}
	if !strings.Contains(shown, "acme/llm write=true ok=true") {
		t.Errorf("the git server saw no push with the real token:\n%s", shown)
	}
}

// TestGitGetsABasicChallenge: git sends credentials only after a 401 with a
// Basic challenge, and shows a refusal's text only when it is text/plain.
func TestGitGetsABasicChallenge(t *testing.T) {
	e := newGitEnv(t)
	read := e.lease("l-read", "acme/llm", false)
	res, body := e.do("GET", "/acme/llm.git/info/refs?service=git-upload-pack", "", nil)
	if res.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Fatalf("no credentials: status %d, WWW-Authenticate %q; want 401 with a Basic challenge", res.StatusCode, res.Header.Get("WWW-Authenticate"))
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || !strings.Contains(body, invalidCredentials) {
		t.Errorf("refusal %q (%s), want the reason as text/plain", body, ct)
	}
	// The Hub API keeps its JSON refusals and no challenge.
	if res, _ := e.do("GET", "/api/whoami-v2", "", nil); res.Header.Get("WWW-Authenticate") != "" {
		t.Errorf("an API refusal carries a Basic challenge")
	}
	req, _ := http.NewRequest("GET", e.url+"/acme/llm.git/info/refs?service=git-upload-pack", nil)
	req.SetBasicAuth("anything", read)
	res, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("Basic credentials with the lease token as the password: status %d, want 200", res.StatusCode)
	}
}

// TestGitLFSSeesWhyItWasRefused: git-lfs shows the "message" of an LFS error
// body; a read lease's upload batch is refused with the reason there.
func TestGitLFSSeesWhyItWasRefused(t *testing.T) {
	e := newGitEnv(t)
	read := e.lease("l-read", "acme/llm", false)
	res, body := e.do("POST", "/acme/llm.git/info/lfs/objects/batch", read, strings.NewReader(`{"operation":"upload","objects":[]}`),
		"Content-Type", "application/vnd.git-lfs+json")
	var msg struct{ Message string }
	if res.StatusCode != http.StatusForbidden || json.Unmarshal([]byte(body), &msg) != nil ||
		!strings.Contains(msg.Message, "lease l-read: read lease may only post LFS batch downloads") {
		t.Errorf("an upload batch with a read lease: status %d, body %s; want 403 with the reason as the message", res.StatusCode, body)
	}
	res, _ = e.do("POST", "/acme/llm.git/info/lfs/objects/batch", "", strings.NewReader(`{"operation":"download","objects":[]}`))
	if res.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("an LFS batch without credentials: status %d, WWW-Authenticate %q; want 401 with a Basic challenge", res.StatusCode, res.Header.Get("WWW-Authenticate"))
	}
}

// TestGitLFSPushesAndClonesThroughTheProxy: the real git-lfs pushes a 1 MiB
// LFS object through the proxy with a write lease and a fresh clone with a
// read lease gets its content back. The fake Hub answers batches as the Hub
// does (upload and download on presigned storage that refuses any
// Authorization, verify on the Hub with the token) and echoes the
// credential it was sent in the actions' headers: the proxy points verify
// at itself with the lease token, drops the echo on the storage hrefs, and
// the real token is nowhere in git's output (with git-lfs tracing the batch
// answers), in the work trees or in an answer.
func TestGitLFSPushesAndClonesThroughTheProxy(t *testing.T) {
	gittest.LookGitLFS(t)
	e := newGitEnvWith(t, gittest.Options{LFS: true, LFSEchoCredential: true})
	e.home = t.TempDir()
	read := e.lease("l-read", "acme/llm", false)
	write := e.lease("l-write", "acme/llm", true)
	work := t.TempDir()
	if out, err := e.run(t, work, write, "lfs", "install", "--skip-repo"); err != nil {
		t.Fatalf("git lfs install: %v\n%s", err, out)
	}

	repo := filepath.Join(work, "a")
	big := make([]byte, 1<<20)
	_, _ = rand.Read(big)
	sum := sha256.Sum256(big)
	oid := hex.EncodeToString(sum[:])
	steps := [][]string{
		{"clone", "-q", e.url + "/acme/llm", "a"},
		{"-C", repo, "lfs", "track", "*.bin"},
		{"-C", repo, "add", ".gitattributes"},
	}
	for _, args := range steps {
		if out, err := e.run(t, work, write, args...); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(repo, "model.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"add", "model.bin"}, {"commit", "-q", "-m", "checkpoint"}} {
		if out, err := e.run(t, repo, write, args...); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	// A read lease's LFS upload is refused at the batch, with the reason
	// (git push would be refused before, at receive-pack's discovery).
	out, err := e.run(t, repo, read, "lfs", "push", "origin", "main")
	if err == nil {
		t.Fatalf("an LFS push with a read lease worked:\n%s", out)
	}
	if !strings.Contains(out, "hfbroker proxy: lease l-read: read lease may only post LFS batch downloads") {
		t.Errorf("git's output does not say why the read lease's LFS upload was refused:\n%s", out)
	}

	traced := []string{"-c", "lfs.locksverify=false"}
	out, err = e.runEnv(t, repo, write, []string{"GIT_CURL_VERBOSE=1"}, append(traced, "push", "origin", "main")...)
	if err != nil {
		t.Fatalf("an LFS push with a write lease: %v\n%s", err, out)
	}
	if !strings.Contains(out, "main -> main") {
		t.Errorf("the push did not update main:\n%s", out)
	}
	if !strings.Contains(out, e.url+"/acme/llm.git/info/lfs/objects/verify") {
		t.Errorf("git-lfs did not verify through the proxy:\n%s", out)
	}
	if got, verified := e.git.LFSObject("acme/llm", oid); !bytes.Equal(got, big) || !verified {
		t.Fatalf("the LFS server holds %d bytes of the object, verified %v; want the 1 MiB pushed, verified", len(got), verified)
	}

	out, err = e.runEnv(t, work, read, []string{"GIT_CURL_VERBOSE=1"}, "clone", "-q", e.url+"/acme/llm", "b")
	if err != nil {
		t.Fatalf("a clone with a read lease: %v\n%s", err, out)
	}
	if got, err := os.ReadFile(filepath.Join(work, "b", "model.bin")); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("the clone's model.bin: %d bytes, %v; want the object's content", len(got), err)
	}
	if n := e.git.StorageRefusals(); n != 0 {
		t.Errorf("presigned storage saw an Authorization header %d times", n)
	}

	// An answer as the client gets it, for the record.
	body := fmt.Sprintf(`{"operation":"download","objects":[{"oid":%q,"size":%d}]}`, oid, len(big))
	res, answer := e.do("POST", "/acme/llm.git/info/lfs/objects/batch", read, strings.NewReader(body), "Content-Type", "application/vnd.git-lfs+json")
	if res.StatusCode != 200 || !strings.Contains(answer, e.git.StorageURL()+"/lfs/acme/llm/"+oid+"?X-Amz-Signature=") {
		t.Errorf("a download batch: %d %s; want the presigned storage href untouched", res.StatusCode, answer)
	}
	if (batchRewrite{real: e.realToken}).carriesToken(answer) || strings.Contains(answer, "Authorization") {
		t.Errorf("a download batch answer holds the real token or an Authorization header: %s", answer)
	}
	noTokenUnder(t, e.realToken, work, e.home)

	e.mu.Lock()
	shown := strings.Join(e.shown, "\n")
	e.mu.Unlock()
	if strings.Contains(shown, "ok=false") {
		t.Errorf("the server saw a credential it refused:\n%s", shown)
	}
}

// noTokenUnder fails the test if a file under the dirs holds the token in
// any form tokenForms knows.
func noTokenUnder(t *testing.T, tok string, dirs ...string) {
	t.Helper()
	x := batchRewrite{real: tok}
	for _, dir := range dirs {
		_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err == nil && x.carriesToken(string(b)) {
				t.Errorf("%s holds the real token", path)
			}
			return nil
		})
	}
}
