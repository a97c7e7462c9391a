package broker_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hfbroker/hfbroker/internal/broker"
	"github.com/hfbroker/hfbroker/internal/hub"
	"github.com/hfbroker/hfbroker/internal/hubtest"
	"github.com/hfbroker/hfbroker/internal/keystore"
	"github.com/hfbroker/hfbroker/internal/secret"
)

// newChoiceWorld is a broker with alice's three tokens against a fake Hub
// where she has the write role in acme: "laptop" (classic write), "acme-ci"
// (fine-grained, read and write on acme) and "reader" (classic read).
func newChoiceWorld(t *testing.T) (*broker.Broker, map[string]string) {
	t.Helper()
	h := hubtest.New(t)
	h.AddUser("alice", "Alice")
	h.AddOrg(hubtest.OrgSpec{Name: "acme"})
	h.AddMember("acme", "alice", hubtest.RoleWrite)
	h.AddRepo(hubtest.RepoSpec{ID: "acme/llm", Private: true})
	h.AddRepo(hubtest.RepoSpec{ID: "alice/x", Private: true})
	toks := map[string]string{
		"laptop": h.AddToken("alice", hubtest.TokenSpec{Role: "write", DisplayName: "laptop"}),
		"acme-ci": h.AddToken("alice", hubtest.TokenSpec{Role: "fineGrained", DisplayName: "acme-ci",
			Scoped: []hubtest.Scope{hubtest.ScopeOrg("acme", "repo.content.read", "repo.write")}}),
		"reader": h.AddToken("alice", hubtest.TokenSpec{Role: "read", DisplayName: "reader"}),
	}
	b, err := broker.New(broker.Options{
		Store:    keystore.NewMemory(),
		Hub:      &hub.Client{HTTP: h.Client()},
		Profiles: &broker.MemoryProfiles{},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"laptop", "acme-ci", "reader"} {
		if _, _, err := b.AddToken(context.Background(), broker.AddRequest{Name: name, Token: secret.Token(toks[name]), Endpoint: h.URL()}); err != nil {
			t.Fatal(err)
		}
	}
	return b, toks
}

// Issue 19: a route overrode what was asked (a push got the read-only token
// it routed to), and a read got a token that could also write. A route may
// only pick a token that can do the job, else the lease is refused naming
// the route; a read prefers the tokens that cannot write.
func TestChoiceRoutesNeverOverrideWhatWasAsked(t *testing.T) {
	tests := []struct {
		name   string
		routes []broker.Route
		repo   string
		access broker.Access
		pick   string // "" when the lease must be refused
		errHas []string
	}{
		{name: "a read of an org repo gets the read token, not the fine-grained one that can write",
			repo: "acme/llm", access: broker.AccessRead, pick: "reader"},
		{name: "a push to an org repo gets the org-scoped token",
			repo: "acme/llm", access: broker.AccessWrite, pick: "acme-ci"},
		{name: "a route to a read-only profile does not serve a push",
			routes: []broker.Route{{Match: "acme/*", Profile: "reader"}},
			repo:   "acme/llm", access: broker.AccessWrite,
			errHas: []string{`route "acme/*"`, `profile "reader"`, "cannot write"}},
		{name: "a route to a read-only profile serves a read",
			routes: []broker.Route{{Match: "acme/*", Profile: "reader"}},
			repo:   "acme/llm", access: broker.AccessRead, pick: "reader"},
		{name: "a route to a profile that can push serves the push",
			routes: []broker.Route{{Match: "acme/*", Profile: "laptop"}},
			repo:   "acme/llm", access: broker.AccessWrite, pick: "laptop"},
		{name: "a route to a profile without access to the namespace is refused",
			routes: []broker.Route{{Match: "*/*", Profile: "acme-ci"}},
			repo:   "alice/x", access: broker.AccessRead,
			errHas: []string{`route "*/*"`, `profile "acme-ci"`, "cannot read"}},
		{name: "a route that does not match leaves the choice to least privilege",
			routes: []broker.Route{{Match: "other/*", Profile: "laptop"}},
			repo:   "acme/llm", access: broker.AccessWrite, pick: "acme-ci"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, toks := newChoiceWorld(t)
			b.Configure(broker.Settings{Routes: tc.routes})
			repo, err := hub.ParseRepo(tc.repo, hub.RepoModel)
			if err != nil {
				t.Fatal(err)
			}
			g, err := b.Lease(context.Background(), broker.LeaseRequest{Repo: &repo, Access: tc.access, Purpose: broker.PurposeToken})
			if tc.pick != "" {
				if err != nil {
					t.Fatalf("Lease: %v", err)
				}
				if g.Lease.Profile != tc.pick {
					t.Fatalf("Lease chose %q, want %q", g.Lease.Profile, tc.pick)
				}
				return
			}
			if err == nil {
				t.Fatalf("Lease chose %q, want a refusal", g.Lease.Profile)
			}
			// Exit 4 in the CLI: access denied, not a plain error.
			if k := broker.KindOf(err); k != broker.KindAccessDenied {
				t.Fatalf("Lease error kind %v (%v), want access denied", k, err)
			}
			for _, s := range tc.errHas {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			if broker.HintOf(err) == "" {
				t.Error("the refusal has no hint")
			}
			for _, tok := range toks {
				if strings.Contains(err.Error(), tok) || strings.Contains(broker.HintOf(err), tok) {
					t.Fatal("the error holds a token")
				}
			}
		})
	}
}

// Configure swaps the routes while the broker serves: the next lease follows
// the new config (config reload, issue 19).
func TestConfigureTakesEffectOnTheNextLease(t *testing.T) {
	b, _ := newChoiceWorld(t)
	repo, _ := hub.ParseRepo("acme/llm", hub.RepoModel)
	req := broker.LeaseRequest{Repo: &repo, Access: broker.AccessWrite, Purpose: broker.PurposeToken}
	g, err := b.Lease(context.Background(), req)
	if err != nil || g.Lease.Profile != "acme-ci" {
		t.Fatalf("before: %v, %v", g.Lease.Profile, err)
	}
	b.Configure(broker.Settings{Routes: []broker.Route{{Match: "acme/llm", Profile: "laptop"}}})
	g, err = b.Lease(context.Background(), req)
	if err != nil || g.Lease.Profile != "laptop" {
		t.Fatalf("after: %v, %v", g.Lease.Profile, err)
	}
}
