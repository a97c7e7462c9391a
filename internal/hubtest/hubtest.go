// Package hubtest is a fake Hugging Face Hub for tests: users, orgs, tokens of
// every kind, repos (private, gated), org token policies, and knobs for rate
// limits, slow answers and redirects, served on 127.0.0.1.
//
// The fake decides access on its own, without importing internal/access, so
// that tests comparing the access model with the fake's auth-check are a real
// cross-check rather than the same code run twice. Where the Hub's exact
// wording is unknown the message is marked UNVERIFIED; everything quoted from
// shared/reference/hf-hub-auth.md is reproduced verbatim.
package hubtest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hfbroker/hfbroker/internal/hub"
)

// Paths of the routes the fake serves (besides the repo routes).
const WhoamiPath = "/api/whoami-v2"

// Org roles, as whoami's roleInOrg.
const (
	RoleAdmin       = "admin"
	RoleWrite       = "write"
	RoleContributor = "contributor"
	RoleRead        = "read"
	RoleNoAccess    = "no_access"
)

// Hub is a running fake Hub.
type Hub struct {
	t       testing.TB
	srv     *httptest.Server
	closing chan struct{}
	once    sync.Once

	mu        sync.Mutex
	now       func() time.Time
	users     map[string]*user
	orgs      map[string]*org
	tokens    map[string]*token
	repos     map[hub.RepoRef]*repo
	calls     map[string]int
	limits    map[string]time.Time
	delays    map[string]time.Duration
	redirects map[string]string
	requests  int
	oauth     oauthState // device flow and refresh tokens (oauth.go)
}

type user struct {
	name, fullname, email, id string
}

type org struct {
	OrgSpec
	id      string
	members map[string]string // user -> role
}

type token struct {
	value, user string
	spec        TokenSpec
	revoked     bool
	approved    map[string]bool // org -> approved under the org's policy
	revokedIn   map[string]bool // org -> revoked by the org's admin
	oauth       bool            // an hf_oauth_ access token from the device flow
}

type repo struct {
	ref      hub.RepoRef
	id       string
	private  bool
	gated    hub.Gated
	approved map[string]bool
	files    map[string][]byte // path -> content, on main
}

// OrgSpec configures an organization.
type OrgSpec struct {
	Name     string
	Fullname string
	Plan     string // team (default), enterprise, plus, academia
	// RequireApproval is the enterprise token policy: a member's token
	// reaches the org only after ApproveToken.
	RequireApproval bool
	// OnlyFineGrained makes the org refuse classic read/write tokens.
	OnlyFineGrained bool
}

// TokenSpec configures a user access token.
type TokenSpec struct {
	// Value is the token; empty means a generated "hf_" + 34 letters.
	Value       string
	Role        string // "read", "write" or "fineGrained"
	DisplayName string // defaults to "token-N"
	// Scoped, Global and CanReadGatedRepos apply to fineGrained tokens.
	Scoped            []Scope
	Global            []string
	CanReadGatedRepos bool
	// ExpiresAt, when set, makes the token invalid from then on and is
	// reported as auth.expiresAt.
	ExpiresAt time.Time
	CreatedAt time.Time
	// Restrictions adds securityRestrictions per org name ("mfa", "sso",
	// "ip", "token-policy", "token-revoked"), on top of those the org's
	// policy computes.
	Restrictions map[string][]string
}

// Scope is one fine-grained grant. Type is "user", "org", "model", "dataset"
// or "space"; Name is the user or org name, or the repo id "ns/name".
type Scope struct {
	Type        string
	Name        string
	Permissions []string
}

// ScopeOrg grants perms on every repo of an org.
func ScopeOrg(name string, perms ...string) Scope {
	return Scope{Type: "org", Name: name, Permissions: perms}
}

// ScopeUser grants perms on the user's own repos.
func ScopeUser(name string, perms ...string) Scope {
	return Scope{Type: "user", Name: name, Permissions: perms}
}

// ScopeRepo grants perms on one repo, given as ParseRepo reads it
// ("acme/llm", "datasets/acme/corpus").
func ScopeRepo(id string, perms ...string) Scope {
	ref, err := hub.ParseRepo(id, hub.RepoModel)
	if err != nil {
		panic(err)
	}
	return Scope{Type: ref.Type.String(), Name: ref.ID(), Permissions: perms}
}

// RepoSpec configures a repository.
type RepoSpec struct {
	ID       string // "acme/llm", "datasets/acme/corpus", "spaces/acme/demo"
	Private  bool
	Gated    hub.Gated
	Approved []string // users granted access to a gated repo
	// Files are served at /{repo}/resolve/{rev}/{path} (any revision), as
	// hf_hub_download fetches them.
	Files map[string]string
}

// New starts a fake Hub that closes when the test ends.
func New(t testing.TB) *Hub {
	t.Helper()
	h := &Hub{
		t:         t,
		closing:   make(chan struct{}),
		now:       time.Now,
		users:     map[string]*user{},
		orgs:      map[string]*org{},
		tokens:    map[string]*token{},
		repos:     map[hub.RepoRef]*repo{},
		calls:     map[string]int{},
		limits:    map[string]time.Time{},
		delays:    map[string]time.Duration{},
		redirects: map[string]string{},
	}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.Close)
	return h
}

// URL is the endpoint, http://127.0.0.1:PORT.
func (h *Hub) URL() string { return h.srv.URL }

// Client is an *http.Client for the fake (no proxy, no keep-alive surprises).
func (h *Hub) Client() *http.Client { return h.srv.Client() }

// Close stops the server; hanging handlers return at once.
func (h *Hub) Close() {
	h.once.Do(func() {
		close(h.closing)
		h.srv.Close()
	})
}

// SetClock replaces time.Now for token expiry and rate-limit windows.
func (h *Hub) SetClock(now func() time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.now = now
}

// AddUser adds a user account.
func (h *Hub) AddUser(name, fullname string) {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mustFree(name)
	h.users[name] = &user{name: name, fullname: fullname, email: name + "@example.com", id: objectID("user", name)}
}

// AddOrg adds an organization.
func (h *Hub) AddOrg(spec OrgSpec) {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mustFree(spec.Name)
	if spec.Plan == "" {
		spec.Plan = "team"
	}
	if spec.Fullname == "" {
		spec.Fullname = strings.ToUpper(spec.Name)
	}
	h.orgs[spec.Name] = &org{OrgSpec: spec, id: objectID("org", spec.Name), members: map[string]string{}}
}

// AddMember gives a user a role in an org (admin, write, contributor, read,
// no_access).
func (h *Hub) AddMember(orgName, userName, role string) {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	o, ok := h.orgs[orgName]
	if !ok {
		h.t.Fatalf("hubtest: AddMember: no org %q", orgName)
	}
	if _, ok := h.users[userName]; !ok {
		h.t.Fatalf("hubtest: AddMember: no user %q", userName)
	}
	switch role {
	case RoleAdmin, RoleWrite, RoleContributor, RoleRead, RoleNoAccess:
	default:
		h.t.Fatalf("hubtest: AddMember: unknown role %q", role)
	}
	o.members[userName] = role
}

// AddToken creates a token for a user and returns its value.
func (h *Hub) AddToken(userName string, spec TokenSpec) string {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.users[userName]; !ok {
		h.t.Fatalf("hubtest: AddToken: no user %q", userName)
	}
	switch spec.Role {
	case hub.RoleRead, hub.RoleWrite, hub.RoleFineGrained:
	default:
		h.t.Fatalf("hubtest: AddToken: unknown role %q", spec.Role)
	}
	if spec.Value == "" {
		spec.Value = NewTokenValue()
	}
	if _, dup := h.tokens[spec.Value]; dup {
		h.t.Fatalf("hubtest: AddToken: duplicate token value")
	}
	if spec.DisplayName == "" {
		spec.DisplayName = fmt.Sprintf("token-%d", len(h.tokens)+1)
	}
	if spec.CreatedAt.IsZero() {
		spec.CreatedAt = time.Date(2026, 1, 15, 10, 27, 3, 276e6, time.UTC)
	}
	h.tokens[spec.Value] = &token{value: spec.Value, user: userName, spec: spec, approved: map[string]bool{}, revokedIn: map[string]bool{}}
	return spec.Value
}

// NewTokenValue returns a fresh "hf_" + 34 letters, the classic token shape.
func NewTokenValue() string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := []byte("hf_")
	for range 34 {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(letters))))
		if err != nil {
			panic(err)
		}
		b = append(b, letters[n.Int64()])
	}
	return string(b)
}

// Revoke invalidates a token everywhere, as the leaked-token revocation does.
func (h *Hub) Revoke(tok string) {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mustToken(tok).revoked = true
}

// RevokeForOrg is an org admin revoking a member's token for the org only.
func (h *Hub) RevokeForOrg(tok, orgName string) {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mustToken(tok).revokedIn[orgName] = true
}

// ApproveToken is an org admin approving a token under the org's policy.
func (h *Hub) ApproveToken(tok, orgName string) {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mustToken(tok).approved[orgName] = true
}

// AddRepo adds a repository and returns its reference.
func (h *Hub) AddRepo(spec RepoSpec) hub.RepoRef {
	h.t.Helper()
	ref, err := hub.ParseRepo(spec.ID, hub.RepoModel)
	if err != nil {
		h.t.Fatalf("hubtest: AddRepo: %v", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r := &repo{ref: ref, id: objectID("repo", ref.String()), private: spec.Private, gated: spec.Gated, approved: map[string]bool{}}
	for path, content := range spec.Files {
		h.putLocked(r, path, []byte(content))
	}
	for _, u := range spec.Approved {
		r.approved[u] = true
	}
	h.repos[ref] = r
	return ref
}

// GrantGatedAccess approves a user's access request to a gated repo.
func (h *Hub) GrantGatedAccess(repoID, userName string) {
	h.t.Helper()
	ref, err := hub.ParseRepo(repoID, hub.RepoModel)
	if err != nil {
		h.t.Fatalf("hubtest: GrantGatedAccess: %v", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.repos[ref]
	if !ok {
		h.t.Fatalf("hubtest: GrantGatedAccess: no repo %s", ref)
	}
	r.approved[userName] = true
}

// RateLimit makes every request to path answer 429 for d, with the Hub's
// RateLimit and RateLimit-Policy headers. d <= 0 lifts it.
func (h *Hub) RateLimit(path string, d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if d <= 0 {
		delete(h.limits, path)
		return
	}
	h.limits[path] = h.now().Add(d)
}

// Delay makes requests to path wait d before answering (0 removes it).
func (h *Hub) Delay(path string, d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.delays[path] = d
}

// Hang makes requests to path never answer, until the client gives up or
// the Hub closes.
func (h *Hub) Hang(path string) { h.Delay(path, -1) }

// Redirect makes requests to path answer 307 to location.
func (h *Hub) Redirect(path, location string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.redirects[path] = location
}

// Calls counts the requests made to path.
func (h *Hub) Calls(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[path]
}

func (h *Hub) mustFree(name string) {
	if _, ok := h.users[name]; ok {
		h.t.Fatalf("hubtest: %q is already a user", name)
	}
	if _, ok := h.orgs[name]; ok {
		h.t.Fatalf("hubtest: %q is already an org", name)
	}
}

func (h *Hub) mustToken(tok string) *token {
	t, ok := h.tokens[tok]
	if !ok {
		h.t.Fatalf("hubtest: unknown token")
	}
	return t
}

// objectID makes a stable 24-hex id, the Hub's Mongo id shape.
func objectID(kind, name string) string {
	sum := sha256.Sum256([]byte(kind + ":" + name))
	return hex.EncodeToString(sum[:12])
}

// valid returns the token if the Hub would accept it at all.
func (h *Hub) valid(raw string) *token {
	t, ok := h.tokens[raw]
	if !ok || t.revoked {
		return nil
	}
	if !t.spec.ExpiresAt.IsZero() && !h.now().Before(t.spec.ExpiresAt) {
		return nil
	}
	return t
}

// restrictions computes securityRestrictions for a token in an org.
func (h *Hub) restrictions(t *token, o *org) []string {
	var rs []string
	add := func(r string) {
		if !slices.Contains(rs, r) {
			rs = append(rs, r)
		}
	}
	for _, r := range t.spec.Restrictions[o.Name] {
		add(r)
	}
	if t.revokedIn[o.Name] {
		add("token-revoked")
	}
	if o.RequireApproval && !t.approved[o.Name] {
		add("token-policy")
	}
	if o.OnlyFineGrained && t.spec.Role != hub.RoleFineGrained {
		add("token-policy")
	}
	if rs == nil {
		rs = []string{}
	}
	return rs
}

// ---- HTTP ----

func (h *Hub) serve(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.calls[r.URL.Path]++
	h.requests++
	reqID := fmt.Sprintf("Root=1-fake-%06d", h.requests)
	delay := h.delays[r.URL.Path]
	redirect := h.redirects[r.URL.Path]
	until, limited := h.limits[r.URL.Path]
	now := h.now()
	h.mu.Unlock()

	w.Header().Set("X-Request-Id", reqID)
	if strings.HasPrefix(r.URL.Path, "/oauth/") {
		h.serveOAuth(w, r)
		return
	}
	if delay != 0 {
		var timer <-chan time.Time
		if delay > 0 {
			tm := time.NewTimer(delay)
			defer tm.Stop()
			timer = tm.C
		}
		select {
		case <-timer:
		case <-r.Context().Done():
			return
		case <-h.closing:
			return
		}
	}
	if ref, kind, path, ok := parseContentPath(r.URL.Path); ok {
		// Files: downloads (resolve) and uploads (preupload + commit).
		raw, ok := bearer(r)
		if !ok {
			writeError(w, http.StatusUnauthorized, "", hub.MsgInvalidCredentials)
			return
		}
		h.content(w, r, raw, ref, kind, path)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, http.StatusMethodNotAllowed, "", "Method not allowed")
		return
	}
	if redirect != "" {
		http.Redirect(w, r, redirect, http.StatusTemporaryRedirect)
		return
	}
	if limited && now.Before(until) {
		// hf-hub-auth.md §1.6: RateLimit: "api";r=<remaining>;t=<secs>
		secs := int((until.Sub(now) + time.Second - 1) / time.Second)
		w.Header().Set("RateLimit", fmt.Sprintf(`"api";r=0;t=%d`, secs))
		w.Header().Set("RateLimit-Policy", `"fixed window";"api";q=500;w=300`)
		writeError(w, http.StatusTooManyRequests, "", "Rate limit exceeded") // message UNVERIFIED
		return
	}
	raw, ok := bearer(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, "", hub.MsgInvalidCredentials)
		return
	}
	if r.URL.Path == WhoamiPath {
		h.whoami(w, raw)
		return
	}
	if ref, action, ok := parseRepoPath(r.URL.Path); ok {
		if action == "" && h.publicInfo(raw, ref) {
			// The info of a public repo, gated or not, is anyone's: the
			// gate guards its files, not its card (model_info works
			// before access is granted).
			h.repoInfo(w, ref)
			return
		}
		d := h.Check(raw, ref, action == "write")
		if !d.Allowed() {
			d.write(w)
			return
		}
		if action == "" {
			h.repoInfo(w, ref)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{})
		return
	}
	writeError(w, http.StatusNotFound, "", "Not Found")
}

// bearer returns the token from "Authorization: Bearer X"; "" if there is
// no header. ok is false for a malformed header.
func bearer(r *http.Request) (string, bool) {
	a := r.Header.Get("Authorization")
	if a == "" {
		return "", true
	}
	scheme, tok, found := strings.Cut(a, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return tok, true
}

// parseRepoPath reads /api/{type}s/{ns}/{name}[/auth-check[/write]].
func parseRepoPath(p string) (ref hub.RepoRef, action string, ok bool) {
	rest, found := strings.CutPrefix(p, "/api/")
	if !found {
		return ref, "", false
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 3:
	case len(parts) == 4 && parts[3] == "auth-check":
		action = "read"
	case len(parts) == 5 && parts[3] == "auth-check" && parts[4] == "write":
		action = "write"
	default:
		return ref, "", false
	}
	ref, err := hub.ParseRepo(strings.Join(parts[:3], "/"), hub.RepoModel)
	if err != nil || !strings.HasSuffix(parts[0], "s") {
		return ref, "", false
	}
	return ref, action, true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers as the Hub does: X-Error-Code, X-Error-Message and a
// JSON body {"error": message}.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	if code != "" {
		w.Header().Set("X-Error-Code", code)
	}
	if msg != "" {
		w.Header().Set("X-Error-Message", msg)
	}
	writeJSON(w, status, map[string]any{"error": msg})
}

func (h *Hub) whoami(w http.ResponseWriter, raw string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.valid(raw)
	if t == nil {
		// hf-hub-auth.md §1.6: 401, X-Error-Message and body, no X-Error-Code.
		writeError(w, http.StatusUnauthorized, "", hub.MsgInvalidCredentials)
		return
	}
	u := h.users[t.user]
	orgNames := make([]string, 0)
	for name, o := range h.orgs {
		if _, ok := o.members[u.name]; ok {
			orgNames = append(orgNames, name)
		}
	}
	sort.Strings(orgNames)
	orgs := make([]any, 0, len(orgNames))
	for _, name := range orgNames {
		o := h.orgs[name]
		orgs = append(orgs, map[string]any{
			"type":                 "org",
			"id":                   o.id,
			"name":                 o.Name,
			"fullname":             o.Fullname,
			"email":                nil,
			"canPay":               true,
			"billingMode":          "postpaid",
			"periodEnd":            1785542400,
			"avatarUrl":            "https://cdn-avatars.huggingface.co/v1/production/uploads/" + o.Name + ".png",
			"plan":                 o.Plan,
			"roleInOrg":            o.members[u.name],
			"securityRestrictions": h.restrictions(t, o),
			"resourceGroups":       []any{},
		})
	}
	at := map[string]any{
		"displayName": t.spec.DisplayName,
		"role":        t.spec.Role,
		"createdAt":   t.spec.CreatedAt.UTC().Format("2006-01-02T15:04:05.000Z"),
	}
	if t.spec.Role == hub.RoleFineGrained {
		scoped := make([]any, 0, len(t.spec.Scoped))
		for _, s := range t.spec.Scoped {
			scoped = append(scoped, map[string]any{
				"entity":      map[string]any{"_id": h.entityID(s), "type": s.Type, "name": s.Name},
				"permissions": nonNil(s.Permissions),
			})
		}
		at["fineGrained"] = map[string]any{
			"canReadGatedRepos": t.spec.CanReadGatedRepos,
			"global":            nonNil(t.spec.Global),
			"scoped":            scoped,
		}
	}
	auth := map[string]any{"type": "access_token", "accessToken": at}
	if t.oauth {
		// OAuth tokens have no accessToken block (hf-hub-auth.md §1.2).
		auth = map[string]any{"type": "oauth"}
	}
	if !t.spec.ExpiresAt.IsZero() {
		auth["expiresAt"] = t.spec.ExpiresAt.UTC().Format(time.RFC3339Nano)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"type":          "user",
		"id":            u.id,
		"name":          u.name,
		"fullname":      u.fullname,
		"email":         u.email,
		"emailVerified": true,
		"isPro":         false,
		"canPay":        false,
		"billingMode":   "postpaid",
		"periodEnd":     nil,
		"avatarUrl":     "/avatars/" + u.id + ".svg",
		"orgs":          orgs,
		"auth":          auth,
	})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (h *Hub) entityID(s Scope) string {
	switch s.Type {
	case "user":
		if u, ok := h.users[s.Name]; ok {
			return u.id
		}
	case "org":
		if o, ok := h.orgs[s.Name]; ok {
			return o.id
		}
	default:
		if t, err := hub.ParseRepoType(s.Type); err == nil {
			ref, err := hub.ParseRepo(s.Name, t)
			if err == nil {
				ref.Type = t
				if r, ok := h.repos[ref]; ok {
					return r.id
				}
			}
		}
	}
	return objectID(s.Type, s.Name)
}

// publicInfo reports whether repo info for ref may be answered without an
// access decision: the repo exists, is public, and the token (if any) is valid.
func (h *Hub) publicInfo(raw string, ref hub.RepoRef) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.repos[ref]
	return r != nil && !r.private && (raw == "" || h.valid(raw) != nil)
}

func (h *Hub) repoInfo(w http.ResponseWriter, ref hub.RepoRef) {
	h.mu.Lock()
	r := h.repos[ref]
	h.mu.Unlock()
	var gated any = false
	if r.gated.IsGated() {
		gated = string(r.gated)
	}
	body := map[string]any{
		"_id":          r.id,
		"id":           ref.ID(),
		"author":       ref.Namespace,
		"sha":          strings.Repeat("0", 40),
		"private":      r.private,
		"gated":        gated,
		"disabled":     false,
		"lastModified": "2026-07-01T12:00:00.000Z",
	}
	if ref.Type == hub.RepoModel {
		body["modelId"] = ref.ID()
	}
	writeJSON(w, http.StatusOK, body)
}
