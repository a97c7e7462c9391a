package access_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hfbroker/hfbroker/internal/access"
	"github.com/hfbroker/hfbroker/internal/hub"
)

var now = time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)

func org(name, role string, restrictions ...string) hub.Org {
	return hub.Org{Type: "org", ID: "id-" + name, Name: name, RoleInOrg: role, SecurityRestrictions: restrictions}
}

func alice(tok *hub.AccessToken, orgs ...hub.Org) *hub.Whoami {
	return &hub.Whoami{Type: "user", ID: "id-alice", Name: "alice", Orgs: orgs,
		Auth: hub.Auth{Type: "access_token", AccessToken: tok}}
}

func classic(role string) *hub.AccessToken {
	return &hub.AccessToken{DisplayName: role, Role: role, CreatedAt: now.Add(-time.Hour)}
}

func fine(canReadGated bool, scoped ...hub.ScopedEntry) *hub.AccessToken {
	return &hub.AccessToken{DisplayName: "fg", Role: hub.RoleFineGrained, CreatedAt: now.Add(-time.Hour),
		FineGrained: &hub.FineGrained{Scoped: scoped, CanReadGatedRepos: canReadGated}}
}

func scope(typ, name string, perms ...string) hub.ScopedEntry {
	return hub.ScopedEntry{Entity: hub.Entity{ID: "id-" + name, Type: typ, Name: name}, Permissions: perms}
}

const (
	R = hub.PermRepoRead
	W = hub.PermRepoWrite
)

func expiring(me *hub.Whoami, at time.Time) *hub.Whoami {
	me.Auth.ExpiresAt = &at
	return me
}

func mustRef(t testing.TB, s string) hub.RepoRef {
	t.Helper()
	r, err := hub.ParseRepo(s, hub.RepoModel)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var (
	public  = &hub.RepoInfo{}
	private = &hub.RepoInfo{Private: true}
	gated   = &hub.RepoInfo{Gated: hub.GatedManual}
)

func TestDecide(t *testing.T) {
	tests := []struct {
		name    string
		me      *hub.Whoami
		repo    string
		want    access.Access
		info    *hub.RepoInfo
		allowed bool
		code    access.Code
		reason  string // substring of Reason
		action  string // substring of Action
		assumed string // substring of Assumed
	}{
		// The table in the brief.
		{name: "an org read role with a write token cannot push", me: alice(classic("write"), org("acme", "read")), repo: "acme/llm", want: access.Write, info: private,
			code: access.CodeRole, reason: "you have the read role in acme; ask an org admin for the write role", action: "write role"},
		{name: "an org write role with a read token cannot push", me: alice(classic("read"), org("acme", "write")), repo: "acme/llm", want: access.Write, info: private,
			code: access.CodeTokenRole, reason: "read token cannot write", action: "tokenType=fineGrained"},
		{name: "an org admin with a read token cannot push", me: alice(classic("read"), org("acme", "admin")), repo: "acme/llm", want: access.Write, info: private,
			code: access.CodeTokenRole, reason: "read token cannot write"},
		{name: "an org write role with a write token can push", me: alice(classic("write"), org("acme", "write")), repo: "acme/llm", want: access.Write, info: private, allowed: true,
			reason: "you have the write role in acme"},
		{name: "an org admin with a write token can push", me: alice(classic("write"), org("acme", "admin")), repo: "acme/llm", want: access.Write, info: private, allowed: true},
		{name: "an org admin with a fine-grained token scoped to another org is denied", me: alice(fine(false, scope("org", "other", R, W)), org("acme", "admin"), org("other", "admin")), repo: "acme/llm", want: access.Write, info: private,
			code: access.CodeScope, reason: "fine-grained token is not scoped to acme", action: "https://huggingface.co/settings/tokens/new?tokenType=fineGrained"},
		{name: "an org admin with a fine-grained token scoped to the user only is denied", me: alice(fine(false, scope("user", "alice", R, W)), org("acme", "admin")), repo: "acme/llm", want: access.Write, info: private,
			code: access.CodeScope, reason: "not scoped to acme", action: "repo.write"},
		{name: "an org admin with a fine-grained token scoped to the org can push", me: alice(fine(false, scope("org", "acme", R, W)), org("acme", "admin")), repo: "acme/llm", want: access.Write, info: private, allowed: true,
			reason: "scoped to acme"},
		{name: "an org admin with a fine-grained token scoped to the repo can push", me: alice(fine(false, scope("model", "acme/llm", R, W)), org("acme", "admin")), repo: "acme/llm", want: access.Write, info: private, allowed: true},
		{name: "a fine-grained token scoped to another repo of the org is denied", me: alice(fine(false, scope("model", "acme/other", R, W)), org("acme", "admin")), repo: "acme/llm", want: access.Write, info: private,
			code: access.CodeScope, reason: "not scoped to acme"},
		{name: "a fine-grained org scope without repo.write cannot push", me: alice(fine(false, scope("org", "acme", R)), org("acme", "admin")), repo: "acme/llm", want: access.Write, info: private,
			code: access.CodeScope, reason: "scoped to acme without repo.write"},
		{name: "a fine-grained org scope with repo.content.read reads a private repo", me: alice(fine(false, scope("org", "acme", R)), org("acme", "read")), repo: "acme/llm", want: access.Read, info: private, allowed: true},
		{name: "a fine-grained org scope with only repo.write cannot read a private repo", me: alice(fine(false, scope("org", "acme", W)), org("acme", "admin")), repo: "acme/llm", want: access.Read, info: private,
			code: access.CodeScope, reason: "without repo.content.read"},
		{name: "an org scope matches by id when the name is missing", me: alice(fine(false, hub.ScopedEntry{Entity: hub.Entity{ID: "id-acme", Type: "org"}, Permissions: []string{W}}), org("acme", "write")), repo: "acme/llm", want: access.Write, info: private, allowed: true},

		// The user's own namespace.
		{name: "the owner pushes to their own repo with a write token", me: alice(classic("write")), repo: "alice/mine", want: access.Write, info: private, allowed: true,
			reason: "alice is your own namespace"},
		{name: "the owner reads their own private repo with a read token", me: alice(classic("read")), repo: "alice/mine", want: access.Read, info: private, allowed: true},
		{name: "a fine-grained user scope pushes to the user's repo", me: alice(fine(false, scope("user", "alice", R, W))), repo: "alice/mine", want: access.Write, info: private, allowed: true},
		{name: "a fine-grained token scoped only to an org cannot push to the user's repo", me: alice(fine(false, scope("org", "acme", R, W)), org("acme", "admin")), repo: "alice/mine", want: access.Write, info: private,
			code: access.CodeScope, reason: "not scoped to alice"},
		{name: "a user scope does not reach an org's repo", me: alice(fine(false, scope("user", "alice", R, W)), org("acme", "write")), repo: "acme/llm", want: access.Read, info: private,
			code: access.CodeScope},

		// Datasets and spaces.
		{name: "a dataset scope pushes to that dataset", me: alice(fine(false, scope("dataset", "acme/corpus", R, W)), org("acme", "write")), repo: "datasets/acme/corpus", want: access.Write, info: private, allowed: true},
		{name: "a dataset scope named with its prefix also matches", me: alice(fine(false, scope("dataset", "datasets/acme/corpus", R, W)), org("acme", "write")), repo: "datasets/acme/corpus", want: access.Write, info: private, allowed: true},
		{name: "a model scope does not reach the dataset of the same name", me: alice(fine(false, scope("model", "acme/corpus", R, W)), org("acme", "write")), repo: "datasets/acme/corpus", want: access.Write, info: private,
			code: access.CodeScope, action: "datasets/acme/corpus"},
		{name: "a space scope pushes to that space", me: alice(fine(false, scope("space", "acme/demo", W)), org("acme", "write")), repo: "spaces/acme/demo", want: access.Write, info: public, allowed: true},
		{name: "a repo scope matches by object id when the name is missing", me: alice(fine(false, hub.ScopedEntry{Entity: hub.Entity{ID: "66aa", Type: "model"}, Permissions: []string{R}}), org("acme", "read")), repo: "acme/llm", want: access.Read, info: &hub.RepoInfo{ObjectID: "66aa", Private: true}, allowed: true},

		// Gated repos.
		{name: "a classic token reads a gated repo once access is granted", me: alice(classic("read")), repo: "bob/gated", want: access.Read, info: gated, allowed: true,
			assumed: "alice has been granted access to the gated repo bob/gated (request it at https://huggingface.co/bob/gated)"},
		{name: "a fine-grained token without canReadGatedRepos cannot read a gated repo", me: alice(fine(false, scope("user", "alice", R))), repo: "bob/gated", want: access.Read, info: gated,
			code: access.CodeGated, reason: "may not read public gated repos", action: "enable access to public gated repositories"},
		{name: "a fine-grained token with canReadGatedRepos reads a gated repo", me: alice(fine(true)), repo: "bob/gated", want: access.Read, info: gated, allowed: true, assumed: "granted access"},
		{name: "a fine-grained token scoped to the gated repo reads it", me: alice(fine(false, scope("model", "bob/gated", R))), repo: "bob/gated", want: access.Read, info: gated, allowed: true},
		{name: "an org member reads the org's gated repo with canReadGatedRepos", me: alice(fine(true), org("acme", "read")), repo: "acme/gated", want: access.Read, info: gated, allowed: true},
		{name: "an org member's unscoped fine-grained token without canReadGatedRepos is denied", me: alice(fine(false), org("acme", "read")), repo: "acme/gated", want: access.Read, info: gated,
			code: access.CodeScope, reason: "not scoped to acme"},
		{name: "gating does not stop an org writer from pushing", me: alice(classic("write"), org("acme", "write")), repo: "acme/gated", want: access.Write, info: gated, allowed: true},

		// Security restrictions.
		{name: "a token-policy restriction denies with the policy reason", me: alice(fine(false, scope("org", "acme", R, W)), org("acme", "admin", "token-policy")), repo: "acme/llm", want: access.Read, info: private,
			code: access.CodeRestriction, reason: "the acme token policy requires an admin to approve this token", action: "ask an admin of acme to approve"},
		{name: "a token-policy restriction on a classic token suggests a fine-grained one", me: alice(classic("write"), org("acme", "admin", "token-policy")), repo: "acme/llm", want: access.Write, info: private,
			code: access.CodeRestriction, reason: "accepts only fine-grained tokens", action: "scoped to acme with repo.write"},
		{name: "a token revoked by the org is denied", me: alice(classic("write"), org("acme", "admin", "token-revoked")), repo: "acme/llm", want: access.Read, info: private,
			code: access.CodeRestriction, reason: "revoked this token", action: "create a new token"},
		{name: "an mfa restriction asks for two-factor authentication", me: alice(classic("write"), org("acme", "write", "mfa")), repo: "acme/llm", want: access.Write, info: private,
			code: access.CodeRestriction, reason: "two-factor authentication", action: "settings/account"},
		{name: "an sso restriction asks for a single sign-on", me: alice(classic("write"), org("acme", "write", "sso")), repo: "acme/llm", want: access.Read, info: private,
			code: access.CodeRestriction, reason: "single sign-on", action: "SSO"},
		{name: "an ip restriction names the network", me: alice(classic("write"), org("acme", "write", "ip")), repo: "acme/llm", want: access.Read, info: gated,
			code: access.CodeRestriction, reason: "allowed IP addresses", action: "VPN"},
		{name: "an unknown restriction is still a denial", me: alice(classic("write"), org("acme", "write", "quantum")), repo: "acme/llm", want: access.Write, info: public,
			code: access.CodeRestriction, reason: "restricts this token (quantum)"},
		{name: "a restriction does not stop reading a public repo", me: alice(classic("write"), org("acme", "write", "token-policy")), repo: "acme/llm", want: access.Read, info: public, allowed: true},
		{name: "a restriction in another org does not matter", me: alice(classic("write"), org("acme", "write"), org("other", "write", "sso")), repo: "acme/llm", want: access.Write, info: private, allowed: true},

		// Expiry.
		{name: "an expired token is denied even on a public repo", me: expiring(alice(classic("write")), now.Add(-time.Minute)), repo: "bob/pub", want: access.Read, info: public,
			code: access.CodeExpired, reason: "expired at 2026-08-01T11:59:00Z", action: "https://huggingface.co/settings/tokens"},
		{name: "a token expiring later still works", me: expiring(alice(classic("write")), now.Add(time.Hour)), repo: "alice/mine", want: access.Write, info: private, allowed: true},

		// Roles.
		{name: "a no_access member cannot read a private org repo", me: alice(classic("write"), org("acme", "no_access")), repo: "acme/llm", want: access.Read, info: private,
			code: access.CodeRole, reason: "no_access role in acme", action: "read role"},
		{name: "a no_access member still reads a public org repo", me: alice(classic("read"), org("acme", "no_access")), repo: "acme/llm", want: access.Read, info: public, allowed: true},
		{name: "a no_access member cannot push", me: alice(classic("write"), org("acme", "no_access")), repo: "acme/llm", want: access.Write, info: public,
			code: access.CodeRole, reason: "no_access role"},
		{name: "a contributor cannot push and is told to open a pull request", me: alice(classic("write"), org("acme", "contributor")), repo: "acme/llm", want: access.Write, info: private,
			code: access.CodeRole, reason: "contributors can open pull requests but not push", action: "pull request"},
		{name: "a contributor reads a private org repo", me: alice(classic("read"), org("acme", "contributor")), repo: "acme/llm", want: access.Read, info: private, allowed: true},
		{name: "an org read role reads a private repo with a read token", me: alice(classic("read"), org("acme", "read")), repo: "acme/llm", want: access.Read, info: private, allowed: true},

		// Strangers.
		{name: "a stranger's token reads a public repo", me: alice(classic("read")), repo: "bob/pub", want: access.Read, info: public, allowed: true, reason: "public"},
		{name: "a stranger's fine-grained token reads a public repo", me: alice(fine(false)), repo: "bob/pub", want: access.Read, info: public, allowed: true},
		{name: "a private repo of another org is not visible", me: alice(classic("write"), org("acme", "admin")), repo: "corp/secret", want: access.Read, info: private,
			code: access.CodeNotFound, reason: "corp/secret is private and alice is not a member of corp"},
		{name: "a stranger cannot push to a public repo", me: alice(classic("write")), repo: "bob/pub", want: access.Write, info: public,
			code: access.CodeRole, reason: "you are not a member", action: "pull request"},

		// Unknowns.
		{name: "no metadata is a denial with a way out", me: nil, repo: "acme/llm", want: access.Read, info: public,
			code: access.CodeNoMetadata, action: "refresh"},
		{name: "an unknown visibility is treated as private for a stranger", me: alice(classic("write")), repo: "bob/maybe", want: access.Read, info: nil,
			code: access.CodeNotFound, reason: "can only be read if it is public", assumed: "treated as private"},
		{name: "an unknown visibility still lets a member read", me: alice(classic("read"), org("acme", "read")), repo: "acme/llm", want: access.Read, info: nil, allowed: true, assumed: "treated as private"},
		{name: "a token without access-token metadata cannot push", me: alice(nil), repo: "alice/mine", want: access.Write, info: private,
			code: access.CodeTokenRole, reason: "cannot tell"},
		{name: "an invalid repo is a bad request", me: alice(classic("write")), repo: "", want: access.Read, info: public, code: access.CodeBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var repo hub.RepoRef
			if tc.repo != "" {
				repo = mustRef(t, tc.repo)
			}
			v := access.Decide(tc.me, repo, tc.want, tc.info, now)
			if v.Allowed != tc.allowed {
				t.Fatalf("Allowed = %v, want %v (%+v)", v.Allowed, tc.allowed, v)
			}
			if v.Reason == "" {
				t.Errorf("no reason: %+v", v)
			}
			if tc.allowed {
				if v.Code != access.CodeAllowed || v.Action != "" {
					t.Errorf("allowed verdict has code %q and action %q", v.Code, v.Action)
				}
			} else {
				if v.Code != tc.code {
					t.Errorf("Code = %q, want %q (%+v)", v.Code, tc.code, v)
				}
				if v.Action == "" {
					t.Errorf("a denial without an action: %+v", v)
				}
			}
			if !strings.Contains(v.Reason, tc.reason) {
				t.Errorf("Reason = %q, want it to contain %q", v.Reason, tc.reason)
			}
			if !strings.Contains(v.Action, tc.action) {
				t.Errorf("Action = %q, want it to contain %q", v.Action, tc.action)
			}
			if !strings.Contains(v.Assumed, tc.assumed) {
				t.Errorf("Assumed = %q, want it to contain %q", v.Assumed, tc.assumed)
			}
		})
	}
}

func TestActionsUseThePolicysEndpoint(t *testing.T) {
	p := access.Policy{Endpoint: "https://hub.example.com/"}
	v := p.Decide(alice(fine(false), org("acme", "admin")), mustRef(t, "acme/llm"), access.Write, private, now)
	if !strings.Contains(v.Action, "https://hub.example.com/settings/tokens/new?tokenType=fineGrained") || strings.Contains(v.Action, "huggingface.co") {
		t.Fatalf("Action = %q", v.Action)
	}
}

func TestPrivilegeOrdersTokensFromNarrowToBroad(t *testing.T) {
	repo := mustRef(t, "acme/llm")
	acme := org("acme", "admin")
	ordered := []struct {
		name string
		me   *hub.Whoami
		rank int
	}{
		{"fine-grained scoped to the repo", alice(fine(false, scope("model", "acme/llm", R)), acme), access.RankRepoScoped},
		{"fine-grained scoped to the repo and the org", alice(fine(false, scope("org", "acme", R), scope("model", "acme/llm", R)), acme), access.RankRepoScoped},
		{"fine-grained scoped to the namespace", alice(fine(false, scope("org", "acme", R, W)), acme), access.RankNamespace},
		{"fine-grained scoped to the user", alice(fine(false, scope("user", "alice", R, W)), acme), access.RankFineGrained},
		{"classic read", alice(classic("read"), acme), access.RankRead},
		{"classic write", alice(classic("write"), acme), access.RankWrite},
		{"no metadata", nil, access.RankUnknown},
	}
	prev := -1
	for _, tc := range ordered {
		got := access.Privilege(tc.me, repo)
		if got != tc.rank || got < prev {
			t.Errorf("Privilege(%s) = %d, want %d (after %d)", tc.name, got, tc.rank, prev)
		}
		prev = got
	}
	if got := access.Privilege(alice(fine(false, scope("user", "alice", R))), mustRef(t, "alice/mine")); got != access.RankNamespace {
		t.Errorf("a user scope on the user's own repo ranks %d, want RankNamespace", got)
	}
}

func TestChoosePicksTheLeastPrivilegedAllowedToken(t *testing.T) {
	acme := org("acme", "admin")
	cands := []access.Candidate{
		{Name: "laptop-write", Me: alice(classic("write"), acme)},
		{Name: "reader", Me: alice(classic("read"), acme)},
		{Name: "acme-ci", Me: alice(fine(false, scope("org", "acme", R, W)), acme)},
		{Name: "llm-only", Me: alice(fine(false, scope("model", "acme/llm", R, W)), acme)},
		{Name: "other", Me: alice(fine(false, scope("org", "other", R, W)), acme)},
	}
	tests := []struct {
		name string
		repo string
		want access.Access
		pick string
	}{
		{"the repo-scoped token wins a push to its repo", "acme/llm", access.Write, "llm-only"},
		{"the org-scoped token wins a push to another org repo", "acme/other", access.Write, "acme-ci"},
		{"the read token wins a read of another org repo over the org-scoped one that can write", "acme/other", access.Read, "reader"},
		{"the read token wins a read of the user's own repo", "alice/mine", access.Read, "reader"},
		{"the write token is the only one for the user's own repo", "alice/mine", access.Write, "laptop-write"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, denials := access.Choose(cands, mustRef(t, tc.repo), tc.want, private, now)
			if got != tc.pick || denials != nil {
				t.Fatalf("Choose = %q, %v; want %q", got, denials, tc.pick)
			}
		})
	}
}

func TestChooseKeepsTheCallersOrderOnTies(t *testing.T) {
	cands := []access.Candidate{{Name: "b", Me: alice(classic("read"))}, {Name: "a", Me: alice(classic("read"))}}
	if got, _ := access.Choose(cands, mustRef(t, "alice/x"), access.Read, private, now); got != "b" {
		t.Fatalf("Choose = %q, want the first of equals", got)
	}
}

func TestChooseExplainsEveryCandidateWhenNoneFits(t *testing.T) {
	cands := []access.Candidate{
		{Name: "reader", Me: alice(classic("read"), org("acme", "write"))},
		{Name: "other", Me: alice(fine(false, scope("org", "other", W)), org("acme", "write"))},
		{Name: "unknown", Me: nil},
	}
	got, denials := access.Choose(cands, mustRef(t, "acme/llm"), access.Write, private, now)
	if got != "" || len(denials) != 3 {
		t.Fatalf("Choose = %q, %+v", got, denials)
	}
	want := []struct{ name, reason string }{{"reader", "read token cannot write"}, {"other", "not scoped to acme"}, {"unknown", "nothing is known"}}
	for i, w := range want {
		if denials[i].Name != w.name || !strings.Contains(denials[i].Reason, w.reason) || denials[i].Action == "" {
			t.Errorf("denial %d = %+v, want %s: %q", i, denials[i], w.name, w.reason)
		}
	}
}

// Issue 19: a read of acme/llm got the fine-grained token that can also
// write, over the read-only token. For a read, the tokens that cannot write
// to the repo come first (fine-grained read-only scoped to the repo < to the
// namespace < classic read), then those that can, in the write order.
func TestReadJobsDoNotGetWriteTokens(t *testing.T) {
	acme := org("acme", "admin")
	var (
		repoRO  = access.Candidate{Name: "repo-ro", Me: alice(fine(false, scope("model", "acme/llm", R)), acme)}
		nsRO    = access.Candidate{Name: "ns-ro", Me: alice(fine(false, scope("org", "acme", R)), acme)}
		reader  = access.Candidate{Name: "reader", Me: alice(classic("read"), acme)}
		repoRW  = access.Candidate{Name: "repo-rw", Me: alice(fine(false, scope("model", "acme/llm", R, W)), acme)}
		nsRW    = access.Candidate{Name: "ns-rw", Me: alice(fine(false, scope("org", "acme", R, W)), acme)}
		writer  = access.Candidate{Name: "writer", Me: alice(classic("write"), acme)}
		unknown = access.Candidate{Name: "unknown", Me: nil}
	)
	tests := []struct {
		name  string
		cands []access.Candidate
		want  access.Access
		pick  string
	}{
		{"the read token, not the org-scoped token that can write", []access.Candidate{nsRW, reader}, access.Read, "reader"},
		{"the read token, not the repo-scoped token that can write", []access.Candidate{repoRW, reader}, access.Read, "reader"},
		{"the repo-scoped read-only token first", []access.Candidate{writer, nsRW, repoRW, reader, nsRO, repoRO}, access.Read, "repo-ro"},
		{"then the namespace-scoped read-only token", []access.Candidate{writer, nsRW, repoRW, reader, nsRO}, access.Read, "ns-ro"},
		{"then the classic read token", []access.Candidate{writer, nsRW, repoRW, reader}, access.Read, "reader"},
		{"then the repo-scoped token that can write", []access.Candidate{writer, nsRW, repoRW}, access.Read, "repo-rw"},
		{"then the namespace-scoped token that can write", []access.Candidate{writer, nsRW}, access.Read, "ns-rw"},
		{"the write token last of the known", []access.Candidate{unknown, writer}, access.Read, "writer"},
		{"a write still takes the narrowest writer", []access.Candidate{writer, nsRW, repoRW, reader, repoRO}, access.Write, "repo-rw"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, denials := access.Choose(tc.cands, mustRef(t, "acme/llm"), tc.want, private, now)
			if got != tc.pick {
				t.Fatalf("Choose = %q (denials %v), want %q", got, denials, tc.pick)
			}
		})
	}
}
