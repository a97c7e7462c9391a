package hubtest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hfbroker/hfbroker/internal/hub"
	"github.com/hfbroker/hfbroker/internal/hubtest"
)

// get does a raw request so the wire format itself is under test.
func get(t *testing.T, h *hubtest.Hub, path, tok string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(body) > 0 && resp.StatusCode != http.StatusTemporaryRedirect {
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("%s: body is not JSON: %q", path, body)
		}
	}
	return resp, m
}

func setup(t *testing.T) (*hubtest.Hub, string) {
	h := hubtest.New(t)
	h.AddUser("alice", "Alice")
	h.AddOrg(hubtest.OrgSpec{Name: "acme", RequireApproval: true})
	h.AddMember("acme", "alice", hubtest.RoleAdmin)
	h.AddRepo(hubtest.RepoSpec{ID: "acme/llm", Private: true})
	h.AddRepo(hubtest.RepoSpec{ID: "alice/gated-x", Gated: hub.GatedManual})
	tok := h.AddToken("alice", hubtest.TokenSpec{Role: "fineGrained", DisplayName: "ci",
		Scoped: []hubtest.Scope{hubtest.ScopeOrg("acme", hub.PermRepoRead)}, Global: []string{"post.write"}})
	return h, tok
}

func TestGeneratedTokensHaveTheClassicShape(t *testing.T) {
	re := regexp.MustCompile(`^hf_[A-Za-z]{34}$`)
	seen := map[string]bool{}
	for range 50 {
		v := hubtest.NewTokenValue()
		if !re.MatchString(v) || seen[v] {
			t.Fatalf("token %q is malformed or repeated", v)
		}
		seen[v] = true
	}
}

func TestWhoamiHasTheReferenceShape(t *testing.T) {
	h, tok := setup(t)
	resp, m := get(t, h, hubtest.WhoamiPath, tok)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, k := range []string{"type", "id", "name", "fullname", "email", "emailVerified", "isPro", "canPay", "billingMode", "periodEnd", "avatarUrl", "orgs", "auth"} {
		if _, ok := m[k]; !ok {
			t.Errorf("top level lacks %q", k)
		}
	}
	orgs := m["orgs"].([]any)
	o := orgs[0].(map[string]any)
	for _, k := range []string{"type", "id", "name", "fullname", "avatarUrl", "plan", "roleInOrg", "securityRestrictions", "resourceGroups"} {
		if _, ok := o[k]; !ok {
			t.Errorf("org lacks %q", k)
		}
	}
	if o["roleInOrg"] != "admin" || len(o["securityRestrictions"].([]any)) != 1 || o["securityRestrictions"].([]any)[0] != "token-policy" {
		t.Errorf("org = %v, want admin with a token-policy restriction (not yet approved)", o)
	}
	at := m["auth"].(map[string]any)["accessToken"].(map[string]any)
	fg := at["fineGrained"].(map[string]any)
	entity := fg["scoped"].([]any)[0].(map[string]any)["entity"].(map[string]any)
	if at["role"] != "fineGrained" || at["displayName"] != "ci" || entity["_id"] != o["id"] || entity["type"] != "org" {
		t.Errorf("accessToken = %v", at)
	}
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).MatchString(at["createdAt"].(string)) {
		t.Errorf("createdAt = %v, want ISO-8601 with milliseconds", at["createdAt"])
	}
	if len(m["id"].(string)) != 24 {
		t.Errorf("id = %v, want 24 hex", m["id"])
	}

	h.ApproveToken(tok, "acme")
	_, m = get(t, h, hubtest.WhoamiPath, tok)
	if rs := m["orgs"].([]any)[0].(map[string]any)["securityRestrictions"].([]any); len(rs) != 0 {
		t.Errorf("after approval securityRestrictions = %v", rs)
	}
}

func TestABadTokenGetsTheHubs401(t *testing.T) {
	h, _ := setup(t)
	for _, tok := range []string{hubtest.NewTokenValue(), ""} {
		resp, m := get(t, h, hubtest.WhoamiPath, tok)
		if resp.StatusCode != 401 || resp.Header.Get("X-Error-Message") != "Invalid credentials in Authorization header" ||
			m["error"] != "Invalid credentials in Authorization header" || resp.Header.Get("X-Error-Code") != "" {
			t.Errorf("token of length %d: %d %v %v", len(tok), resp.StatusCode, resp.Header, m)
		}
	}
}

func TestAuthCheckAnswers(t *testing.T) {
	h, tok := setup(t)
	write := h.AddToken("alice", hubtest.TokenSpec{Role: "write"})
	h.ApproveToken(write, "acme")
	tests := []struct {
		name, path, tok string
		status          int
		code, message   string
	}{
		{"an unapproved token meets the org's token policy", "/api/models/acme/llm/auth-check", tok, 403, "", hub.MsgTokenPolicy},
		{"an approved write token reads", "/api/models/acme/llm/auth-check", write, 200, "", ""},
		{"an approved write token writes", "/api/models/acme/llm/auth-check/write", write, 200, "", ""},
		{"a missing repo is RepoNotFound", "/api/datasets/acme/none/auth-check", write, 404, "RepoNotFound", "Repository not found"},
		{"an anonymous gated read is a 401 GatedRepo", "/api/models/alice/gated-x/auth-check", "", 401, "GatedRepo",
			"Access to model alice/gated-x is restricted. You must have access to it and be authenticated to access it. Please log in."},
		{"repo info of a visible repo", "/api/models/acme/llm", write, 200, "", ""},
		{"an unknown route is 404", "/api/nothing", write, 404, "", "Not Found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, m := get(t, h, tc.path, tc.tok)
			if resp.StatusCode != tc.status || resp.Header.Get("X-Error-Code") != tc.code || resp.Header.Get("X-Error-Message") != tc.message {
				t.Fatalf("%d %q %q, want %d %q %q", resp.StatusCode, resp.Header.Get("X-Error-Code"), resp.Header.Get("X-Error-Message"), tc.status, tc.code, tc.message)
			}
			if tc.status != 200 && m["error"] != tc.message {
				t.Errorf("body error = %v", m["error"])
			}
		})
	}
}

func TestAGatedRepoNamesWhereToAskForAccess(t *testing.T) {
	h, _ := setup(t)
	h.AddUser("bob", "Bob")
	bob := h.AddToken("bob", hubtest.TokenSpec{Role: "read"})
	resp, _ := get(t, h, "/api/models/alice/gated-x/auth-check", bob)
	want := "Access to model alice/gated-x is restricted and you are not in the authorized list. Visit " + h.URL() + "/alice/gated-x to ask for access."
	if resp.StatusCode != 403 || resp.Header.Get("X-Error-Code") != "GatedRepo" || resp.Header.Get("X-Error-Message") != want {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	h.GrantGatedAccess("alice/gated-x", "bob")
	if resp, _ := get(t, h, "/api/models/alice/gated-x/auth-check", bob); resp.StatusCode != 200 {
		t.Fatalf("after approval: %d", resp.StatusCode)
	}
}

func TestRateLimitHeaders(t *testing.T) {
	h, tok := setup(t)
	base := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	clock := base
	h.SetClock(func() time.Time { return clock })
	h.RateLimit(hubtest.WhoamiPath, 90*time.Second)
	resp, _ := get(t, h, hubtest.WhoamiPath, tok)
	if resp.StatusCode != 429 || resp.Header.Get("RateLimit") != `"api";r=0;t=90` || resp.Header.Get("RateLimit-Policy") != `"fixed window";"api";q=500;w=300` {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	clock = base.Add(90 * time.Second)
	if resp, _ := get(t, h, hubtest.WhoamiPath, tok); resp.StatusCode != 200 {
		t.Fatalf("after the window: %d", resp.StatusCode)
	}
	if n := h.Calls(hubtest.WhoamiPath); n != 2 {
		t.Fatalf("Calls = %d", n)
	}
}

func TestRedirectKnob(t *testing.T) {
	h, tok := setup(t)
	h.Redirect(hubtest.WhoamiPath, "http://127.0.0.1:1/elsewhere")
	resp, _ := get(t, h, hubtest.WhoamiPath, tok)
	if resp.StatusCode != 307 || resp.Header.Get("Location") != "http://127.0.0.1:1/elsewhere" {
		t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// A hanging handler must not keep Close waiting, or every test using Hang
// would stall at cleanup.
func TestCloseEndsHangingRequests(t *testing.T) {
	h, tok := setup(t)
	h.Hang(hubtest.WhoamiPath)
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, h.URL()+hubtest.WhoamiPath, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	for h.Calls(hubtest.WhoamiPath) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	h.Close()
	<-done // returns (with an error or an empty answer) rather than hanging
}

func TestAuthorizeHelper(t *testing.T) {
	h, tok := setup(t)
	ref, _ := hub.ParseRepo("acme/llm", hub.RepoModel)
	if h.Authorize(tok, ref, false) {
		t.Fatal("an unapproved token was authorized")
	}
	h.ApproveToken(tok, "acme")
	if !h.Authorize(tok, ref, false) || h.Authorize(tok, ref, true) {
		t.Fatal("a read-scoped token must read but not write")
	}
	if h.Authorize("", ref, false) || h.Authorize(hubtest.NewTokenValue(), ref, false) {
		t.Fatal("anonymous or unknown tokens were authorized")
	}
	h.Revoke(tok)
	if h.Authorize(tok, ref, false) {
		t.Fatal("a revoked token was authorized")
	}
}

// The fake Hub serves a private repo's files at resolve, as
// hf_hub_download fetches them, only to a token that can read the repo.
func TestResolveServesFilesToReaders(t *testing.T) {
	h := hubtest.New(t)
	h.AddUser("alice", "Alice")
	h.AddUser("bob", "Bob")
	h.AddRepo(hubtest.RepoSpec{ID: "alice/x", Private: true, Files: map[string]string{"config.json": "{}"}})
	alice := h.AddToken("alice", hubtest.TokenSpec{Role: "read"})
	bob := h.AddToken("bob", hubtest.TokenSpec{Role: "read"})
	get := func(tok, path string) int {
		req, _ := http.NewRequest("GET", h.URL()+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := h.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := get(alice, "/alice/x/resolve/main/config.json"); c != 200 {
		t.Errorf("owner: %d, want 200", c)
	}
	if c := get(alice, "/alice/x/resolve/main/missing.json"); c != 404 {
		t.Errorf("missing file: %d, want 404", c)
	}
	if c := get(bob, "/alice/x/resolve/main/config.json"); c == 200 {
		t.Errorf("another user read a private file")
	}
}
