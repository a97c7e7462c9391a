package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hfbroker/hfbroker/internal/hub"
	"github.com/hfbroker/hfbroker/internal/hubtest"
	"github.com/hfbroker/hfbroker/internal/secret"
)

// fixture is a fake Hub with alice (write in acme), her tokens and repos.
type fixture struct {
	h                 *hubtest.Hub
	write, read, fine string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	h := hubtest.New(t)
	h.AddUser("alice", "Alice Example")
	h.AddUser("bob", "Bob")
	h.AddOrg(hubtest.OrgSpec{Name: "acme", Fullname: "ACME ML", Plan: "enterprise"})
	h.AddMember("acme", "alice", hubtest.RoleWrite)
	h.AddRepo(hubtest.RepoSpec{ID: "acme/llm", Private: true})
	h.AddRepo(hubtest.RepoSpec{ID: "bob/gated", Gated: hub.GatedManual})
	h.AddRepo(hubtest.RepoSpec{ID: "bob/secret", Private: true})
	f := fixture{h: h}
	f.write = h.AddToken("alice", hubtest.TokenSpec{Role: "write", DisplayName: "laptop"})
	f.read = h.AddToken("alice", hubtest.TokenSpec{Role: "read", DisplayName: "reader"})
	f.fine = h.AddToken("alice", hubtest.TokenSpec{
		Role: "fineGrained", DisplayName: "acme-ci",
		Scoped:            []hubtest.Scope{hubtest.ScopeOrg("acme", hub.PermRepoRead, hub.PermRepoWrite), hubtest.ScopeRepo("bob/gated", hub.PermRepoRead)},
		Global:            []string{"discussion.write"},
		CanReadGatedRepos: true,
		ExpiresAt:         time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC),
	})
	return f
}

func ref(t *testing.T, s string) hub.RepoRef {
	t.Helper()
	r, err := hub.ParseRepo(s, hub.RepoModel)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// assertNoToken fails if any token's secret part shows in s.
func assertNoToken(t *testing.T, s string, toks ...string) {
	t.Helper()
	for _, tok := range toks {
		if tok != "" && strings.Contains(s, tok) {
			t.Fatalf("output contains the token: %q", s)
		}
		if len(tok) > 10 && strings.Contains(s, tok[3:]) {
			t.Fatalf("output contains the token's body: %q", s)
		}
	}
}

func TestWhoamiDecodesAClassicToken(t *testing.T) {
	f := newFixture(t)
	me, err := hub.New().Whoami(context.Background(), f.h.URL(), secret.Token(f.write))
	if err != nil {
		t.Fatal(err)
	}
	if me.Type != "user" || me.Name != "alice" || me.Fullname != "Alice Example" || len(me.ID) != 24 {
		t.Errorf("user fields = %q %q %q %q", me.Type, me.Name, me.Fullname, me.ID)
	}
	if me.Email == nil || *me.Email != "alice@example.com" || !me.EmailVerified || me.PeriodEnd != nil {
		t.Errorf("email/periodEnd = %v %v %v", me.Email, me.EmailVerified, me.PeriodEnd)
	}
	if len(me.Orgs) != 1 || me.Orgs[0].Name != "acme" || me.Orgs[0].RoleInOrg != "write" || me.Orgs[0].Plan != "enterprise" || me.Orgs[0].Type != "org" {
		t.Fatalf("orgs = %+v", me.Orgs)
	}
	if me.Orgs[0].SecurityRestrictions == nil || len(me.Orgs[0].SecurityRestrictions) != 0 {
		t.Errorf("securityRestrictions = %#v, want an empty list", me.Orgs[0].SecurityRestrictions)
	}
	at := me.Auth.AccessToken
	if me.Auth.Type != "access_token" || at == nil || at.Role != "write" || at.DisplayName != "laptop" || at.CreatedAt.IsZero() || at.FineGrained != nil {
		t.Fatalf("auth = %+v / %+v", me.Auth, at)
	}
	if me.Auth.ExpiresAt != nil {
		t.Errorf("expiresAt = %v, want none", me.Auth.ExpiresAt)
	}
}

func TestWhoamiDecodesAFineGrainedToken(t *testing.T) {
	f := newFixture(t)
	me, err := hub.New().Whoami(context.Background(), f.h.URL(), secret.Token(f.fine))
	if err != nil {
		t.Fatal(err)
	}
	fg := me.Auth.AccessToken.FineGrained
	if me.Auth.AccessToken.Role != hub.RoleFineGrained || fg == nil {
		t.Fatalf("accessToken = %+v", me.Auth.AccessToken)
	}
	if !fg.CanReadGatedRepos || !reflect.DeepEqual(fg.Global, []string{"discussion.write"}) || len(fg.Scoped) != 2 {
		t.Fatalf("fineGrained = %+v", fg)
	}
	org := fg.Scoped[0]
	if org.Entity.Type != "org" || org.Entity.Name != "acme" || org.Entity.ID != me.Orgs[0].ID || !reflect.DeepEqual(org.Permissions, []string{hub.PermRepoRead, hub.PermRepoWrite}) {
		t.Errorf("org scope = %+v, want the acme org's id %s", org, me.Orgs[0].ID)
	}
	if repo := fg.Scoped[1]; repo.Entity.Type != "model" || repo.Entity.Name != "bob/gated" || len(repo.Entity.ID) != 24 {
		t.Errorf("repo scope = %+v", repo)
	}
	if me.Auth.ExpiresAt == nil || me.Auth.ExpiresAt.Year() != 2099 {
		t.Errorf("expiresAt = %v", me.Auth.ExpiresAt)
	}
}

// The reference's examples decode field by field, and a persisted copy
// survives a JSON round trip unchanged.
func TestWhoamiReferenceExamplesRoundTrip(t *testing.T) {
	for _, file := range []string{"testdata/whoami-example-a.json", "testdata/whoami-example-b.json"} {
		t.Run(file, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var me hub.Whoami
			if err := json.Unmarshal(raw, &me); err != nil {
				t.Fatal(err)
			}
			if me.Name != "alice" || len(me.Orgs) != 1 || me.Orgs[0].ID != "5e67bd5b1009063689407478" || me.Auth.AccessToken == nil {
				t.Fatalf("decoded %+v", me)
			}
			b, err := json.Marshal(me)
			if err != nil {
				t.Fatal(err)
			}
			var again hub.Whoami
			if err := json.Unmarshal(b, &again); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(me, again) {
				t.Fatalf("round trip changed the value:\n%+v\n%+v", me, again)
			}
		})
	}
	raw, _ := os.ReadFile("testdata/whoami-example-b.json")
	var me hub.Whoami
	if err := json.Unmarshal(raw, &me); err != nil {
		t.Fatal(err)
	}
	fg := me.Auth.AccessToken.FineGrained
	if me.PeriodEnd == nil || *me.PeriodEnd != 1785542400 || me.Orgs[0].SecurityRestrictions[0] != "token-policy" || me.Orgs[0].ResourceGroups[0].Role != "write" ||
		fg.Scoped[0].Entity.ID != "5e67bd5b1009063689407478" || me.Auth.Resource.Sub != "acme-ml" || me.Auth.ExpiresAt == nil {
		t.Fatalf("example B fields lost: %+v", me)
	}
}

func TestWhoamiRejectsABadTokenWithTheHubsMessage(t *testing.T) {
	f := newFixture(t)
	bad := hubtest.NewTokenValue()
	_, err := hub.New().Whoami(context.Background(), f.h.URL(), secret.Token(bad))
	if !errors.Is(err, hub.ErrInvalidToken) {
		t.Fatalf("err = %v, want ErrInvalidToken", err)
	}
	var he *hub.HTTPError
	if !errors.As(err, &he) || he.Status != 401 || he.Message != hub.MsgInvalidCredentials || he.RequestID == "" {
		t.Fatalf("HTTPError = %+v", he)
	}
	if !strings.Contains(err.Error(), `"Invalid credentials in Authorization header"`) {
		t.Errorf("error does not quote the Hub: %q", err)
	}
	assertNoToken(t, err.Error(), bad)
}

func TestARevokedOrExpiredTokenIsInvalid(t *testing.T) {
	f := newFixture(t)
	c := hub.New()
	f.h.Revoke(f.read)
	if _, err := c.Whoami(context.Background(), f.h.URL(), secret.Token(f.read)); !errors.Is(err, hub.ErrInvalidToken) {
		t.Errorf("revoked: err = %v, want ErrInvalidToken", err)
	}
	f.h.SetClock(func() time.Time { return time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC) })
	if _, err := c.Whoami(context.Background(), f.h.URL(), secret.Token(f.fine)); !errors.Is(err, hub.ErrInvalidToken) {
		t.Errorf("expired: err = %v, want ErrInvalidToken", err)
	}
}

func TestWhoamiNeedsAToken(t *testing.T) {
	f := newFixture(t)
	if _, err := hub.New().Whoami(context.Background(), f.h.URL(), ""); !errors.Is(err, hub.ErrNoToken) {
		t.Fatalf("err = %v, want ErrNoToken", err)
	}
	if n := f.h.Calls(hubtest.WhoamiPath); n != 0 {
		t.Fatalf("the Hub was called %d times", n)
	}
}

func TestAuthCheckErrors(t *testing.T) {
	f := newFixture(t)
	f.h.AddOrg(hubtest.OrgSpec{Name: "corp", RequireApproval: true})
	f.h.AddOrg(hubtest.OrgSpec{Name: "lab"})
	f.h.AddOrg(hubtest.OrgSpec{Name: "sec"})
	for _, o := range []string{"corp", "lab", "sec"} {
		f.h.AddMember(o, "alice", hubtest.RoleWrite)
		f.h.AddRepo(hubtest.RepoSpec{ID: o + "/m", Private: true})
	}
	f.h.RevokeForOrg(f.write, "lab")
	mfa := f.h.AddToken("alice", hubtest.TokenSpec{Role: "write", Restrictions: map[string][]string{"sec": {"mfa"}}})

	tests := []struct {
		name   string
		tok    string
		repo   string
		write  bool
		want   error
		status int
		code   string
	}{
		{name: "a member reads a private org repo", tok: f.write, repo: "acme/llm"},
		{name: "a member writes with a write token", tok: f.write, repo: "acme/llm", write: true},
		{name: "a read token cannot write", tok: f.read, repo: "acme/llm", write: true, want: hub.ErrForbidden, status: 403},
		{name: "a missing repo is RepoNotFound", tok: f.write, repo: "acme/nope", want: hub.ErrRepoNotFound, status: 404, code: "RepoNotFound"},
		{name: "another user's private repo is RepoNotFound", tok: f.write, repo: "bob/secret", want: hub.ErrRepoNotFound, status: 404, code: "RepoNotFound"},
		{name: "an anonymous read of a private repo is RepoNotFound", tok: "", repo: "bob/secret", want: hub.ErrRepoNotFound, status: 401},
		{name: "a gated repo without approval is GatedRepo", tok: f.write, repo: "bob/gated", want: hub.ErrGatedRepo, status: 403, code: "GatedRepo"},
		{name: "an anonymous gated read is GatedRepo", tok: "", repo: "bob/gated", want: hub.ErrGatedRepo, status: 401, code: "GatedRepo"},
		{name: "an unapproved token under a token policy is ErrTokenPolicy", tok: f.write, repo: "corp/m", want: hub.ErrTokenPolicy, status: 403},
		{name: "a token revoked by the org is ErrTokenRevoked", tok: f.write, repo: "lab/m", want: hub.ErrTokenRevoked, status: 403},
		{name: "an mfa restriction is ErrForbidden", tok: mfa, repo: "sec/m", want: hub.ErrForbidden, status: 403},
		{name: "an unknown token is ErrInvalidToken", tok: hubtest.NewTokenValue(), repo: "acme/llm", want: hub.ErrInvalidToken, status: 401},
	}
	c := hub.New()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := c.AuthCheck(context.Background(), f.h.URL(), secret.Token(tc.tok), ref(t, tc.repo), tc.write)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			var he *hub.HTTPError
			if !errors.As(err, &he) || he.Status != tc.status || he.Code != tc.code || he.Message == "" {
				t.Fatalf("HTTPError = %+v, want status %d code %q and a message", he, tc.status, tc.code)
			}
			if !strings.Contains(err.Error(), he.Message) {
				t.Errorf("error %q does not quote %q", err, he.Message)
			}
			assertNoToken(t, err.Error(), tc.tok)
		})
	}
}

func TestAuthCheckAfterApprovalSucceeds(t *testing.T) {
	f := newFixture(t)
	f.h.AddOrg(hubtest.OrgSpec{Name: "corp", RequireApproval: true})
	f.h.AddMember("corp", "alice", hubtest.RoleAdmin)
	r := f.h.AddRepo(hubtest.RepoSpec{ID: "corp/m", Private: true})
	c := hub.New()
	if err := c.AuthCheck(context.Background(), f.h.URL(), secret.Token(f.write), r, true); !errors.Is(err, hub.ErrTokenPolicy) {
		t.Fatalf("before approval: err = %v", err)
	}
	f.h.ApproveToken(f.write, "corp")
	if err := c.AuthCheck(context.Background(), f.h.URL(), secret.Token(f.write), r, true); err != nil {
		t.Fatalf("after approval: err = %v", err)
	}
}

func TestRepoInfo(t *testing.T) {
	f := newFixture(t)
	f.h.AddRepo(hubtest.RepoSpec{ID: "datasets/bob/auto", Gated: hub.GatedAuto})
	c := hub.New()
	tests := []struct {
		name    string
		repo    string
		private bool
		gated   hub.Gated
	}{
		{"a private model reports private and not gated", "acme/llm", true, hub.GatedNone},
		{"a manually gated model reports manual", "bob/gated", false, hub.GatedManual},
		{"an auto-gated dataset reports auto", "datasets/bob/auto", false, hub.GatedAuto},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ref(t, tc.repo)
			// Gated repos' metadata is public on the Hub; the fake asks for
			// read access, so approve alice first.
			if tc.gated.IsGated() {
				f.h.GrantGatedAccess(tc.repo, "alice")
			}
			info, err := c.RepoInfo(context.Background(), f.h.URL(), secret.Token(f.write), r)
			if err != nil {
				t.Fatal(err)
			}
			if info.ID != r.ID() || info.Private != tc.private || info.Gated != tc.gated || len(info.ObjectID) != 24 {
				t.Fatalf("info = %+v", info)
			}
		})
	}
}

func TestGatedJSON(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want hub.Gated
		out  string
	}{
		{"false is not gated", `false`, hub.GatedNone, `false`},
		{"null is not gated", `null`, hub.GatedNone, `false`},
		{"a string is the mode", `"manual"`, hub.GatedManual, `"manual"`},
		{"auto is auto", `"auto"`, hub.GatedAuto, `"auto"`},
		{"true reads as manual, the strict mode", `true`, hub.GatedManual, `"manual"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var g hub.Gated
			if err := json.Unmarshal([]byte(tc.in), &g); err != nil || g != tc.want {
				t.Fatalf("Unmarshal(%s) = %q, %v", tc.in, g, err)
			}
			if b, _ := json.Marshal(g); string(b) != tc.out {
				t.Fatalf("Marshal = %s, want %s", b, tc.out)
			}
		})
	}
	var g hub.Gated
	if err := json.Unmarshal([]byte(`3`), &g); err == nil {
		t.Fatal("a number was accepted")
	}
}

func TestRateLimitedWhoami(t *testing.T) {
	f := newFixture(t)
	f.h.RateLimit(hubtest.WhoamiPath, 2*time.Minute)
	c := hub.New()
	_, err := c.Whoami(context.Background(), f.h.URL(), secret.Token(f.write))
	if !errors.Is(err, hub.ErrRateLimited) {
		t.Fatalf("err = %v, want ErrRateLimited", err)
	}
	var rl *hub.RateLimitError
	if !errors.As(err, &rl) {
		t.Fatalf("err %T is not a *RateLimitError", err)
	}
	if rl.Bucket != "api" || rl.Remaining != 0 || rl.Reset <= 0 || rl.Reset > 2*time.Minute || rl.Quota != 500 || rl.Window != 5*time.Minute || rl.Status != 429 {
		t.Fatalf("RateLimitError = %+v", rl)
	}
	var he *hub.HTTPError
	if !errors.As(err, &he) {
		t.Fatal("a RateLimitError is not an *HTTPError")
	}
	if !strings.Contains(err.Error(), "retry in") {
		t.Errorf("error %q does not say when to retry", err)
	}
	f.h.RateLimit(hubtest.WhoamiPath, 0)
	if _, err := c.Whoami(context.Background(), f.h.URL(), secret.Token(f.write)); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	if n := f.h.Calls(hubtest.WhoamiPath); n != 2 {
		t.Fatalf("Calls(whoami) = %d, want 2", n)
	}
}

func TestParseRateLimit(t *testing.T) {
	rl := hub.ParseRateLimit(`"api";r=7;t=123`)
	if !reflect.DeepEqual(rl.Names, []string{"api"}) || rl.Params["r"] != 7 || rl.Params["t"] != 123 {
		t.Fatalf("RateLimit = %+v", rl)
	}
	pol := hub.ParseRateLimit(`"fixed window";"resolvers";q=3000;w=300`)
	if !reflect.DeepEqual(pol.Names, []string{"fixed window", "resolvers"}) || pol.Params["q"] != 3000 || pol.Params["w"] != 300 {
		t.Fatalf("RateLimit-Policy = %+v", pol)
	}
	if junk := hub.ParseRateLimit(`r=-1;t=abc;x;=;"`); len(junk.Params) != 0 {
		t.Fatalf("junk parsed to %+v", junk)
	}
}

func FuzzParseRateLimit(f *testing.F) {
	f.Add(`"api";r=0;t=123`)
	f.Add(`"fixed window";"api";q=500;w=300`)
	f.Fuzz(func(t *testing.T, s string) {
		rl := hub.ParseRateLimit(s)
		for k, v := range rl.Params {
			if v < 0 || v > 1<<31 {
				t.Fatalf("param %s = %d out of range", k, v)
			}
		}
	})
}

func TestATimeoutEndsAHangingCall(t *testing.T) {
	f := newFixture(t)
	f.h.Hang(hubtest.WhoamiPath)
	c := &hub.Client{Timeout: 200 * time.Millisecond}
	_, err := c.Whoami(context.Background(), f.h.URL(), secret.Token(f.write))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	assertNoToken(t, err.Error(), f.write)
}

func TestACancelledContextEndsTheCall(t *testing.T) {
	f := newFixture(t)
	f.h.Hang(hubtest.WhoamiPath)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for f.h.Calls(hubtest.WhoamiPath) == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	if _, err := hub.New().Whoami(ctx, f.h.URL(), secret.Token(f.write)); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// recorder is a second server that records every Authorization it sees.
type recorder struct {
	mu    sync.Mutex
	auths []string
	hits  int
}

func newRecorder(t *testing.T) (*recorder, *httptest.Server) {
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.hits++
		rec.auths = append(rec.auths, r.Header.Get("Authorization"))
		rec.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"type":"user","name":"mallory","id":"x","orgs":[],"auth":{}}`))
	}))
	t.Cleanup(srv.Close)
	return rec, srv
}

// The token goes to the profile's endpoint only: the fake Hub redirects
// whoami to a second server on the same host but another port, which Go's
// own redirect policy would treat as the same domain and send the token to.
func TestARedirectToAnotherOriginNeverCarriesTheToken(t *testing.T) {
	f := newFixture(t)
	rec, other := newRecorder(t)
	f.h.Redirect(hubtest.WhoamiPath, other.URL+"/api/whoami-v2")
	_, err := hub.New().Whoami(context.Background(), f.h.URL(), secret.Token(f.write))
	if !errors.Is(err, hub.ErrCrossOriginRedirect) {
		t.Fatalf("err = %v, want ErrCrossOriginRedirect", err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, a := range rec.auths {
		assertNoToken(t, a, f.write)
	}
	if rec.hits != 0 {
		t.Errorf("the other origin got %d requests, want none", rec.hits)
	}
	assertNoToken(t, err.Error(), f.write)
}

// A user-supplied http.Client that follows every redirect must not weaken
// the policy.
func TestACustomHTTPClientKeepsTheRedirectPolicy(t *testing.T) {
	f := newFixture(t)
	rec, other := newRecorder(t)
	f.h.Redirect(hubtest.WhoamiPath, other.URL+"/api/whoami-v2")
	c := &hub.Client{HTTP: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}}
	if _, err := c.Whoami(context.Background(), f.h.URL(), secret.Token(f.write)); !errors.Is(err, hub.ErrCrossOriginRedirect) {
		t.Fatalf("err = %v, want ErrCrossOriginRedirect", err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.hits != 0 {
		t.Fatalf("the other origin got %d requests", rec.hits)
	}
}

// A renamed repo answers with a relative redirect; following it on the same
// origin keeps the token, as huggingface_hub does.
func TestASameOriginRedirectIsFollowedWithTheToken(t *testing.T) {
	f := newFixture(t)
	f.h.Redirect("/api/models/acme/old-name/auth-check", "/api/models/acme/llm/auth-check")
	err := hub.New().AuthCheck(context.Background(), f.h.URL(), secret.Token(f.write), ref(t, "acme/old-name"), false)
	if err != nil {
		t.Fatalf("err = %v, want the private repo's auth-check to pass after the redirect", err)
	}
	if n := f.h.Calls("/api/models/acme/llm/auth-check"); n != 1 {
		t.Fatalf("redirect target called %d times", n)
	}
}

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
		err  error
	}{
		{"the public Hub is fine", "https://huggingface.co", "https://huggingface.co", nil},
		{"a trailing slash is dropped", "https://huggingface.co/", "https://huggingface.co", nil},
		{"a path prefix is kept", "https://hub.example.com/hf/", "https://hub.example.com/hf", nil},
		{"http on 127.0.0.1 is allowed for tests", "http://127.0.0.1:8080", "http://127.0.0.1:8080", nil},
		{"http on ::1 is allowed", "http://[::1]:9", "http://[::1]:9", nil},
		{"http on localhost is allowed", "http://localhost:9", "http://localhost:9", nil},
		{"http on a remote host is refused", "http://huggingface.co", "", hub.ErrInsecureEndpoint},
		{"http on a LAN address is refused", "http://10.0.0.1", "", hub.ErrInsecureEndpoint},
		{"a loopback-looking hostname is refused", "http://127.0.0.1.evil.com", "", hub.ErrInsecureEndpoint},
		{"credentials in the URL are refused", "https://u:p@huggingface.co", "", hub.ErrBadEndpoint},
		{"a query is refused", "https://huggingface.co/?x=1", "", hub.ErrBadEndpoint},
		{"a relative URL is refused", "huggingface.co", "", hub.ErrBadEndpoint},
		{"another scheme is refused", "ftp://huggingface.co", "", hub.ErrBadEndpoint},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := hub.ParseEndpoint(tc.in)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || u.String() != tc.want {
				t.Fatalf("ParseEndpoint(%q) = %v, %v; want %q", tc.in, u, err, tc.want)
			}
		})
	}
}

func TestAnInsecureEndpointGetsNoRequest(t *testing.T) {
	_, err := hub.New().Whoami(context.Background(), "http://hub.example.com", secret.Token(hubtest.NewTokenValue()))
	if !errors.Is(err, hub.ErrInsecureEndpoint) || !strings.Contains(err.Error(), "clear text") {
		t.Fatalf("err = %v, want ErrInsecureEndpoint explaining why", err)
	}
}

func TestOversizedAnswersAreErrors(t *testing.T) {
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"name":"` + strings.Repeat("a", 2<<20) + `"}`))
	}))
	defer big.Close()
	_, err := hub.New().Whoami(context.Background(), big.URL, secret.Token(hubtest.NewTokenValue()))
	if !errors.Is(err, hub.ErrBodyTooLarge) {
		t.Fatalf("err = %v, want ErrBodyTooLarge", err)
	}
}

// A hostile server that echoes the token and terminal escapes in its error
// message gets neither into the error text.
func TestErrorTextNeverHoldsTheToken(t *testing.T) {
	tok := hubtest.NewTokenValue()
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Error-Message", "bad token "+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(403)
		_, _ = w.Write([]byte(`{"error":"you sent ` + tok + ` \u001b[31m"}`))
	}))
	defer echo.Close()
	err := hub.New().AuthCheck(context.Background(), echo.URL, secret.Token(tok), ref(t, "acme/llm"), false)
	if !errors.Is(err, hub.ErrForbidden) {
		t.Fatalf("err = %v, want ErrForbidden", err)
	}
	assertNoToken(t, err.Error(), tok)
	if strings.ContainsRune(err.Error(), 0x1b) {
		t.Fatalf("error holds an escape character: %q", err)
	}
}

func TestBodyErrorShapesAreQuoted(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"a string error", `{"error":"plain"}`, "plain"},
		{"an object error", `{"error":{"message":"This authentication method does not have sufficient permissions","type":"permission_error"}}`, "sufficient permissions"},
		{"an OAuth error", `{"error":"invalid_grant","error_description":"expired"}`, "invalid_grant; expired"},
		{"an errors list", `{"errors":[{"message":"first"},{"message":"second"}]}`, "first; second"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(400)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			err := hub.New().AuthCheck(context.Background(), srv.URL, "", ref(t, "acme/llm"), false)
			var he *hub.HTTPError
			if !errors.As(err, &he) || !errors.Is(err, hub.ErrUnexpected) || !strings.Contains(he.Message, tc.want) {
				t.Fatalf("err = %v, want a message containing %q", err, tc.want)
			}
		})
	}
}
