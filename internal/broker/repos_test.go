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

// reposWorld is alice on a fake Hub: the write role in acme, read in labs,
// admin in bigco (whose token policy holds back one token), her own repo,
// bob's private repo, a public and a gated public repo; and her tokens, of
// which each case stores some.
func reposWorld(t *testing.T) (*hubtest.Hub, map[string]hubtest.TokenSpec) {
	h := hubtest.New(t)
	h.AddUser("alice", "Alice")
	h.AddUser("bob", "Bob")
	h.AddUser("pub", "Pub")
	h.AddOrg(hubtest.OrgSpec{Name: "acme"})
	h.AddOrg(hubtest.OrgSpec{Name: "labs"})
	h.AddOrg(hubtest.OrgSpec{Name: "bigco"})
	h.AddMember("acme", "alice", hubtest.RoleWrite)
	h.AddMember("labs", "alice", hubtest.RoleRead)
	h.AddMember("bigco", "alice", hubtest.RoleAdmin)
	for _, r := range []string{"acme/llm", "acme/llm-ft", "datasets/acme/corpus", "spaces/acme/demo", "labs/model", "bigco/model", "alice/x", "bob/private"} {
		h.AddRepo(hubtest.RepoSpec{ID: r, Private: true})
	}
	h.AddRepo(hubtest.RepoSpec{ID: "pub/model"})
	h.AddRepo(hubtest.RepoSpec{ID: "pub/gated", Gated: hub.GatedManual, Approved: []string{"alice"}})
	R, W := hub.PermRepoRead, hub.PermRepoWrite
	fg := func(scopes ...hubtest.Scope) hubtest.TokenSpec {
		return hubtest.TokenSpec{Role: "fineGrained", Scoped: scopes}
	}
	specs := map[string]hubtest.TokenSpec{
		"write":      {Role: "write"},
		"read":       {Role: "read"},
		"fg-acme":    fg(hubtest.ScopeOrg("acme", R, W)),
		"fg-acme-ro": fg(hubtest.ScopeOrg("acme", R)),
		// Covers two of the three repos of a training job.
		"fg-two":     fg(hubtest.ScopeRepo("acme/llm", R), hubtest.ScopeRepo("datasets/acme/corpus", R)),
		"fg-ft":      fg(hubtest.ScopeRepo("acme/llm-ft", R, W)),
		"fg-labs":    fg(hubtest.ScopeOrg("labs", R)),
		"fg-user":    fg(hubtest.ScopeUser("alice", R, W)),
		"fg-both":    fg(hubtest.ScopeUser("alice", R, W), hubtest.ScopeOrg("acme", R, W)),
		"restricted": {Role: "write", Restrictions: map[string][]string{"bigco": {"token-policy"}}},
	}
	gated := fg(hubtest.ScopeOrg("acme", R))
	gated.CanReadGatedRepos = true
	specs["fg-gated"] = gated
	return h, specs
}

// Issue 20: one token for several repos. The least-privileged single token
// that covers every repo with the access asked for each; when none does,
// exit 4 (no token fits) naming, per token, the first repo it fails on.
func TestChoiceForSeveralRepos(t *testing.T) {
	tests := []struct {
		name   string
		tokens []string
		repos  []string // "repo:r" or "repo:w"
		prof   string   // a named profile
		pick   string
		fails  map[string]string // token -> the repo its reason names
		kind   broker.Kind       // of the error when not KindNoTokenFits
	}{
		{name: "two reads get the read token", tokens: []string{"read", "write"}, repos: []string{"acme/llm:r", "datasets/acme/corpus:r"}, pick: "read"},
		{name: "the stored order does not matter", tokens: []string{"write", "read"}, repos: []string{"acme/llm:r", "datasets/acme/corpus:r"}, pick: "read"},
		{name: "a read and a write get the write token", tokens: []string{"read", "write"}, repos: []string{"acme/llm:r", "acme/llm-ft:w"}, pick: "write"},
		{name: "a namespace-scoped token beats classic write", tokens: []string{"read", "write", "fg-acme"}, repos: []string{"acme/llm:r", "acme/llm-ft:w"}, pick: "fg-acme"},
		{name: "repo-scoped read-only beats classic read", tokens: []string{"fg-two", "read"}, repos: []string{"acme/llm:r", "datasets/acme/corpus:r"}, pick: "fg-two"},
		{name: "a fine-grained token covering two of three repos loses to one covering all", tokens: []string{"fg-two", "read"}, repos: []string{"acme/llm:r", "datasets/acme/corpus:r", "acme/llm-ft:r"}, pick: "read"},
		{name: "a fine-grained token covering two of three repos alone fails on the third", tokens: []string{"fg-two"}, repos: []string{"acme/llm:r", "datasets/acme/corpus:r", "acme/llm-ft:r"}, fails: map[string]string{"fg-two": "acme/llm-ft"}},
		{name: "two fine-grained tokens covering parts each fail on their first gap", tokens: []string{"fg-two", "fg-ft"}, repos: []string{"acme/llm:r", "datasets/acme/corpus:r", "acme/llm-ft:w"}, fails: map[string]string{"fg-two": "acme/llm-ft", "fg-ft": "acme/llm"}},
		{name: "a read token fails on the written repo", tokens: []string{"read"}, repos: []string{"acme/llm:r", "acme/llm-ft:w"}, fails: map[string]string{"read": "write acme/llm-ft"}},
		{name: "a pattern is read with a classic token", tokens: []string{"write"}, repos: []string{"acme/*:r"}, pick: "write"},
		{name: "a pattern read prefers the token that cannot write", tokens: []string{"write", "read"}, repos: []string{"acme/*:r"}, pick: "read"},
		{name: "a written pattern gets the namespace-scoped token", tokens: []string{"fg-acme", "write"}, repos: []string{"acme/*:w"}, pick: "fg-acme"},
		{name: "repo scopes do not cover a pattern", tokens: []string{"fg-two", "write"}, repos: []string{"acme/*:r"}, pick: "write"},
		{name: "a repo-scoped token alone fails on the pattern", tokens: []string{"fg-two"}, repos: []string{"acme/*:r"}, fails: map[string]string{"fg-two": "acme/*"}},
		{name: "a pattern of datasets and a model", tokens: []string{"fg-acme-ro", "read"}, repos: []string{"datasets/acme/*:r", "acme/llm:r"}, pick: "fg-acme-ro"},
		{name: "a read across two orgs gets the classic read token", tokens: []string{"read", "write", "fg-acme"}, repos: []string{"labs/model:r", "acme/llm:r"}, pick: "read"},
		{name: "the read role in labs cannot write there, whatever the token", tokens: []string{"read", "write"}, repos: []string{"acme/llm:r", "labs/model:w"}, fails: map[string]string{"read": "write labs/model", "write": "write labs/model"}},
		{name: "a public repo costs no scope", tokens: []string{"fg-labs", "read"}, repos: []string{"labs/model:r", "pub/model:r"}, pick: "fg-labs"},
		{name: "a public and a gated repo the user was granted", tokens: []string{"read", "write"}, repos: []string{"pub/model:r", "pub/gated:r"}, pick: "read"},
		{name: "a fine-grained token without gated access fails on the gated repo", tokens: []string{"fg-acme"}, repos: []string{"acme/llm:r", "pub/gated:r"}, fails: map[string]string{"fg-acme": "pub/gated"}},
		{name: "a fine-grained token with gated access covers the gated repo", tokens: []string{"fg-acme", "fg-gated"}, repos: []string{"acme/llm:r", "pub/gated:r"}, pick: "fg-gated"},
		{name: "another user's private repo fails every token", tokens: []string{"read", "write"}, repos: []string{"acme/llm:r", "bob/private:r"}, fails: map[string]string{"read": "bob/private", "write": "bob/private"}},
		{name: "her own repo and an org repo, written", tokens: []string{"write"}, repos: []string{"alice/x:w", "acme/llm-ft:w"}, pick: "write"},
		{name: "an org-scoped token fails on her own repo", tokens: []string{"fg-acme"}, repos: []string{"acme/llm:w", "alice/x:w"}, fails: map[string]string{"fg-acme": "alice/x"}},
		{name: "neither a user- nor an org-scoped token covers both", tokens: []string{"fg-user", "fg-acme", "write"}, repos: []string{"alice/x:w", "acme/llm:w"}, pick: "write"},
		{name: "a token scoped to both namespaces beats classic write", tokens: []string{"fg-both", "write"}, repos: []string{"alice/x:w", "acme/llm:w"}, pick: "fg-both"},
		{name: "a read does not get an org token that can write", tokens: []string{"read", "fg-acme"}, repos: []string{"acme/llm:r", "datasets/acme/corpus:r"}, pick: "read"},
		{name: "a read-only org token beats classic read", tokens: []string{"fg-acme-ro", "read"}, repos: []string{"acme/llm:r", "datasets/acme/corpus:r"}, pick: "fg-acme-ro"},
		{name: "a read-only org token cannot take the written repo", tokens: []string{"fg-acme-ro", "write"}, repos: []string{"acme/llm:r", "acme/llm-ft:w"}, pick: "write"},
		{name: "a read-only org token alone fails on the written repo", tokens: []string{"fg-acme-ro"}, repos: []string{"acme/llm:r", "acme/llm-ft:w"}, fails: map[string]string{"fg-acme-ro": "write acme/llm-ft"}},
		{name: "an org's token policy holds one token back", tokens: []string{"restricted", "read"}, repos: []string{"acme/llm:r", "bigco/model:r"}, pick: "read"},
		{name: "a token held back by a token policy fails on that org's repo", tokens: []string{"restricted"}, repos: []string{"acme/llm:r", "bigco/model:r"}, fails: map[string]string{"restricted": "bigco/model"}},
		{name: "a space and a model, written", tokens: []string{"fg-acme", "write"}, repos: []string{"spaces/acme/demo:w", "acme/llm:w"}, pick: "fg-acme"},
		{name: "a named profile that covers every repo", tokens: []string{"read", "write"}, prof: "write", repos: []string{"acme/llm:r", "acme/llm-ft:w"}, pick: "write"},
		{name: "a named profile that does not is refused naming the repo", tokens: []string{"read", "write"}, prof: "read", repos: []string{"acme/llm:r", "acme/llm-ft:w"}, fails: map[string]string{"read": "write acme/llm-ft"}, kind: broker.KindAccessDenied},
		{name: "a repo named twice is a usage error", tokens: []string{"write"}, repos: []string{"acme/llm:r", "ACME/LLM:w"}, kind: broker.KindInvalid},
		{name: "a bad pattern is a usage error", tokens: []string{"write"}, repos: []string{"acme/llm:r", "acme/l*:r"}, kind: broker.KindInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, specs := reposWorld(t)
			b, err := broker.New(broker.Options{Store: keystore.NewMemory(), Hub: &hub.Client{HTTP: h.Client()},
				Profiles: &broker.MemoryProfiles{}})
			if err != nil {
				t.Fatal(err)
			}
			var toks []string
			for _, name := range tc.tokens {
				spec := specs[name]
				spec.DisplayName = name
				tok := h.AddToken("alice", spec)
				toks = append(toks, tok)
				if _, _, err := b.AddToken(context.Background(), broker.AddRequest{Name: name, Token: secret.Token(tok), Endpoint: h.URL()}); err != nil {
					t.Fatal(err)
				}
			}
			req := broker.LeaseRequest{Profile: tc.prof, Purpose: broker.PurposeToken}
			for _, r := range tc.repos {
				id, acc, _ := strings.Cut(r, ":")
				ref, err := hub.ParseRepoPattern(id, hub.RepoModel)
				if err != nil {
					ref = hub.RepoRef{Type: hub.RepoModel, Namespace: "acme", Name: strings.TrimPrefix(id, "acme/")}
				}
				a := broker.AccessRead
				if acc == "w" {
					a = broker.AccessWrite
				}
				req.Repos = append(req.Repos, broker.RepoGrant{Repo: ref, Access: a})
			}
			g, err := b.Lease(context.Background(), req)
			if tc.pick != "" {
				if err != nil {
					t.Fatalf("Lease: %v (%v)", err, broker.ReasonsOf(err))
				}
				if g.Lease.Profile != tc.pick {
					t.Fatalf("chose %q, want %q", g.Lease.Profile, tc.pick)
				}
				if len(g.Lease.Repos) != len(tc.repos) {
					t.Errorf("the lease holds %d repos, want %d", len(g.Lease.Repos), len(tc.repos))
				}
				return
			}
			if err == nil {
				t.Fatalf("chose %q, want a refusal", g.Lease.Profile)
			}
			want := tc.kind
			if want == 0 {
				want = broker.KindNoTokenFits
			}
			if k := broker.KindOf(err); k != want {
				t.Fatalf("error kind %v (%v), want %v", k, err, want)
			}
			reasons := broker.ReasonsOf(err)
			for name, repo := range tc.fails {
				found := false
				for _, r := range reasons {
					if r.Profile == name {
						found = true
						if !strings.Contains(r.Reason, repo) {
							t.Errorf("%s: reason %q does not name %s", name, r.Reason, repo)
						}
					}
				}
				if !found {
					t.Errorf("no reason for %s in %+v", name, reasons)
				}
			}
			for _, tok := range toks {
				if strings.Contains(err.Error(), tok) || strings.Contains(broker.HintOf(err), tok) {
					t.Fatal("the error holds a token")
				}
			}
		})
	}
}
