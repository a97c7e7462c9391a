package access_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hfbroker/hfbroker/internal/access"
	"github.com/hfbroker/hfbroker/internal/hub"
	"github.com/hfbroker/hfbroker/internal/hubtest"
	"github.com/hfbroker/hfbroker/internal/secret"
)

// TestModelAgreesWithTheFakeHub runs a grid of token kind x org role x repo x
// read/write through both the access model (fed with whoami-v2 as the client
// decodes it from the fake) and the fake Hub's auth-check. The fake decides
// on its own code, so a disagreement is a bug in one of them.
func TestModelAgreesWithTheFakeHub(t *testing.T) {
	h := hubtest.New(t)
	h.AddUser("bob", "Bob")
	h.AddOrg(hubtest.OrgSpec{Name: "acme"})
	h.AddOrg(hubtest.OrgSpec{Name: "strict", Plan: "enterprise", OnlyFineGrained: true})
	h.AddOrg(hubtest.OrgSpec{Name: "corp", Plan: "enterprise", RequireApproval: true})

	roles := []string{hubtest.RoleAdmin, hubtest.RoleWrite, hubtest.RoleContributor, hubtest.RoleRead, hubtest.RoleNoAccess, ""}
	repos := []hubtest.RepoSpec{
		{ID: "acme/pub"},
		{ID: "acme/priv", Private: true},
		{ID: "acme/gated", Gated: hub.GatedManual},
		{ID: "datasets/acme/data", Private: true},
		{ID: "spaces/acme/app"},
		{ID: "bob/pub"},
		{ID: "bob/priv", Private: true},
		{ID: "bob/gated", Gated: hub.GatedAuto},
		{ID: "strict/priv", Private: true},
		{ID: "corp/priv", Private: true},
	}
	users := map[string]string{}
	var userNames []string
	for _, role := range roles {
		name := "u-" + role
		if role == "" {
			name = "u-none"
		}
		users[name] = role
		userNames = append(userNames, name)
		h.AddUser(name, name)
		if role != "" {
			h.AddMember("acme", name, role)
		}
		h.AddMember("strict", name, hubtest.RoleAdmin)
		h.AddMember("corp", name, hubtest.RoleWrite)
		repos = append(repos, hubtest.RepoSpec{ID: name + "/own", Private: true})
	}
	gatedApproved := append([]string(nil), userNames...)
	infos := map[hub.RepoRef]*hub.RepoInfo{}
	var refs []hub.RepoRef
	for _, spec := range repos {
		if spec.Gated.IsGated() {
			spec.Approved = gatedApproved
		}
		ref := h.AddRepo(spec)
		refs = append(refs, ref)
		infos[ref] = &hub.RepoInfo{ID: ref.ID(), Private: spec.Private, Gated: spec.Gated}
	}

	kinds := []struct {
		name string
		spec func(user string) hubtest.TokenSpec
	}{
		{"classic read", func(string) hubtest.TokenSpec { return hubtest.TokenSpec{Role: "read"} }},
		{"classic write", func(string) hubtest.TokenSpec { return hubtest.TokenSpec{Role: "write"} }},
		{"fine-grained acme read+write", func(string) hubtest.TokenSpec {
			return hubtest.TokenSpec{Role: "fineGrained", Scoped: []hubtest.Scope{hubtest.ScopeOrg("acme", R, W)}}
		}},
		{"fine-grained acme read", func(string) hubtest.TokenSpec {
			return hubtest.TokenSpec{Role: "fineGrained", Scoped: []hubtest.Scope{hubtest.ScopeOrg("acme", R)}}
		}},
		{"fine-grained acme write only", func(string) hubtest.TokenSpec {
			return hubtest.TokenSpec{Role: "fineGrained", Scoped: []hubtest.Scope{hubtest.ScopeOrg("acme", W)}}
		}},
		{"fine-grained repo acme/priv", func(string) hubtest.TokenSpec {
			return hubtest.TokenSpec{Role: "fineGrained", Scoped: []hubtest.Scope{hubtest.ScopeRepo("acme/priv", R, W)}}
		}},
		{"fine-grained dataset acme/data", func(string) hubtest.TokenSpec {
			return hubtest.TokenSpec{Role: "fineGrained", Scoped: []hubtest.Scope{hubtest.ScopeRepo("datasets/acme/data", R, W)}}
		}},
		{"fine-grained own user", func(u string) hubtest.TokenSpec {
			return hubtest.TokenSpec{Role: "fineGrained", Scoped: []hubtest.Scope{hubtest.ScopeUser(u, R, W)}}
		}},
		{"fine-grained gated only", func(string) hubtest.TokenSpec {
			return hubtest.TokenSpec{Role: "fineGrained", CanReadGatedRepos: true}
		}},
		{"fine-grained strict org", func(string) hubtest.TokenSpec {
			return hubtest.TokenSpec{Role: "fineGrained", Scoped: []hubtest.Scope{hubtest.ScopeOrg("strict", R, W), hubtest.ScopeOrg("corp", R, W)}}
		}},
		{"classic write with sso in acme", func(string) hubtest.TokenSpec {
			return hubtest.TokenSpec{Role: "write", Restrictions: map[string][]string{"acme": {"sso"}}}
		}},
	}

	c := &hub.Client{Timeout: 30 * time.Second}
	ctx := context.Background()
	var checks, allowed int
	for _, u := range userNames {
		for _, k := range kinds {
			tok := h.AddToken(u, k.spec(u))
			if k.name == "classic write" {
				h.ApproveToken(tok, "corp") // one token per user gets through the corp policy
			}
			me, err := c.Whoami(ctx, h.URL(), secret.Token(tok))
			if err != nil {
				t.Fatalf("whoami %s/%s: %v", u, k.name, err)
			}
			for _, ref := range refs {
				for _, want := range []access.Access{access.Read, access.Write} {
					label := fmt.Sprintf("%s (acme role %q) with %s: %s %s", u, users[u], k.name, want, ref)
					v := access.Decide(me, ref, want, infos[ref], time.Now())
					hubErr := c.AuthCheck(ctx, h.URL(), secret.Token(tok), ref, want == access.Write)
					checks++
					if v.Allowed != (hubErr == nil) {
						t.Errorf("%s: model says allowed=%v (%s), the fake Hub says %v", label, v.Allowed, v.Reason, hubErr)
						continue
					}
					if v.Allowed {
						allowed++
					}
					if (errors.Is(hubErr, hub.ErrTokenPolicy) || errors.Is(hubErr, hub.ErrTokenRevoked)) && v.Code != access.CodeRestriction {
						t.Errorf("%s: the Hub blames the token policy (%v), the model says %s: %s", label, hubErr, v.Code, v.Reason)
					}
					// With the visibility unknown the model assumes the
					// strictest case: whatever it allows, the Hub allows.
					if blind := access.Decide(me, ref, want, nil, time.Now()); blind.Allowed && hubErr != nil {
						t.Errorf("%s: with unknown visibility the model allowed (%s) but the Hub says %v", label, blind.Reason, hubErr)
					}
				}
			}
		}
	}
	// Guard against a grid that tests nothing: both answers must be common.
	if checks < 1000 || allowed < checks/10 || allowed > checks*4/5 {
		t.Fatalf("grid is lopsided: %d checks, %d allowed", checks, allowed)
	}
	t.Logf("%d checks, %d allowed", checks, allowed)
}
