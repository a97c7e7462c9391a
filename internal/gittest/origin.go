package gittest

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/hfbroker/hfbroker/internal/hub"
	"github.com/hfbroker/hfbroker/internal/hubtest"
)

// HubOrigin serves, on one origin as huggingface.co does, a fake Hub's API
// (whoami-v2, which the daemon asks at login) and git for its one private
// repo acme/llm, which alice's write token (the returned token) can push to:
// git's credential helper answers only for the endpoint's host. The
// benchmarks of git through hfbroker use it.
func HubOrigin(tb testing.TB) (endpoint, token string) {
	fake := hubtest.New(tb)
	fake.AddUser("alice", "Alice Example")
	fake.AddOrg(hubtest.OrgSpec{Name: "acme", Fullname: "ACME ML"})
	fake.AddMember("acme", "alice", hubtest.RoleWrite)
	fake.AddRepo(hubtest.RepoSpec{ID: "acme/llm", Private: true})
	token = fake.AddToken("alice", hubtest.TokenSpec{Role: "write", DisplayName: "laptop"})
	gs := New(tb, Options{Authorize: func(_, password, repoPath string, write bool) bool {
		ref, err := hub.ParseRepo(repoPath, hub.RepoModel)
		return err == nil && fake.Authorize(password, ref, write)
	}})
	gs.CreateRepo("acme/llm")
	hubURL, _ := url.Parse(fake.URL())
	gitURL, _ := url.Parse(gs.Endpoint())
	toHub, toGit := httputil.NewSingleHostReverseProxy(hubURL), httputil.NewSingleHostReverseProxy(gitURL)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			toHub.ServeHTTP(w, r)
			return
		}
		toGit.ServeHTTP(w, r)
	}))
	tb.Cleanup(origin.Close)
	return origin.URL, token
}
