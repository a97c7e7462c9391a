// Package access is the access model: from a token's whoami-v2 metadata and a
// request (repo, read or write) it infers whether the Hub will allow it, why
// not in a sentence a person can act on, and which token is least privileged.
//
// Effective access is the user's role in the repo's namespace intersected
// with the token's own permission. The Hub stays authoritative (doctor calls
// auth-check); this package is pure, so the broker can choose tokens without
// spending the strictly rate-limited whoami route.
package access

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/hfbroker/hfbroker/internal/hubapi"
)

// Access is what a request wants to do with a repo.
type Access uint8

// Access levels.
const (
	Read Access = iota + 1
	Write
)

func (a Access) String() string {
	switch a {
	case Read:
		return "read"
	case Write:
		return "write"
	}
	return fmt.Sprintf("Access(%d)", uint8(a))
}

// Code says, for programs, why a verdict is what it is.
type Code string

// Verdict codes.
const (
	CodeAllowed     Code = "allowed"
	CodeNoMetadata  Code = "no-metadata" // nothing known about the token
	CodeExpired     Code = "expired"     // auth.expiresAt has passed
	CodeNotFound    Code = "not-found"   // private repo outside the user's namespaces
	CodeRole        Code = "role"        // the user's role in the namespace is too low
	CodeTokenRole   Code = "token-role"  // a classic read token asked to write, or an unknown role
	CodeScope       Code = "scope"       // a fine-grained token without a matching grant
	CodeGated       Code = "gated"       // fine-grained token without gated-repo access
	CodeRestriction Code = "restriction" // an org's securityRestrictions
	CodeBadRequest  Code = "bad-request" // invalid repo or access
)

// Verdict is the access model's answer.
type Verdict struct {
	Allowed bool
	Code    Code
	// Reason is one sentence: why it is allowed, or why not.
	Reason string
	// Action is what to do about a denial; empty when allowed.
	Action string
	// Assumed names what the verdict took for granted, when it had to: an
	// unknown visibility (treated as private) or a gated repo's approval.
	Assumed string
}

// DefaultEndpoint is used for URLs in actions when a Policy names none.
const DefaultEndpoint = hubapi.DefaultEndpoint

// Policy carries what the rules need besides the request: the endpoint the
// token belongs to, for the URLs in actions.
type Policy struct {
	Endpoint string
}

// Decide applies the access model with DefaultEndpoint.
func Decide(me *hubapi.Whoami, repo hubapi.RepoRef, want Access, info *hubapi.RepoInfo, now time.Time) Verdict {
	return Policy{}.Decide(me, repo, want, info, now)
}

// Choose picks a token with DefaultEndpoint; see Policy.Choose.
func Choose(cands []Candidate, repo hubapi.RepoRef, want Access, info *hubapi.RepoInfo, now time.Time) (string, []Denial) {
	return Policy{}.Choose(cands, repo, want, info, now)
}

func (p Policy) endpoint() string {
	if p.Endpoint == "" {
		return DefaultEndpoint
	}
	return strings.TrimRight(p.Endpoint, "/")
}

// Decide infers whether the token described by me may read or write repo.
// info (from the repo info route) tells whether the repo is private or
// gated; nil means unknown, and the repo is then treated as private, the
// case that needs the most.
func (p Policy) Decide(me *hubapi.Whoami, repo hubapi.RepoRef, want Access, info *hubapi.RepoInfo, now time.Time) Verdict {
	ep := p.endpoint()
	if want != Read && want != Write {
		return deny(CodeBadRequest, fmt.Sprintf("unknown access %s", want), "ask for read or write access")
	}
	if !repo.ValidPattern() {
		return deny(CodeBadRequest, fmt.Sprintf("%q is not a valid repo", repo.String()), "name the repo as namespace/name, e.g. acme/llm or datasets/acme/corpus")
	}
	if me == nil {
		return deny(CodeNoMetadata, "nothing is known about this token yet", "refresh its metadata from the Hub (whoami) and try again")
	}
	if exp := me.Auth.ExpiresAt; exp != nil && !now.Before(*exp) {
		return deny(CodeExpired, fmt.Sprintf("this token expired at %s", exp.UTC().Format(time.RFC3339)),
			fmt.Sprintf("create a new token at %s/settings/tokens and log in with it", ep))
	}

	var assumed string
	private, gated := true, hubapi.GatedNone
	if info != nil {
		private, gated = info.Private, info.Gated
	} else {
		assumed = fmt.Sprintf("the visibility of %s is unknown, so it was treated as private", repo)
	}
	if want == Read && !private && !gated.IsGated() {
		return Verdict{Allowed: true, Code: CodeAllowed, Reason: fmt.Sprintf("%s is public: any token can read it", repo)}
	}

	ns := repo.Namespace
	own := strings.EqualFold(ns, me.Name)
	var org *hubapi.Org
	for i := range me.Orgs {
		if strings.EqualFold(me.Orgs[i].Name, ns) {
			org = &me.Orgs[i]
			break
		}
	}
	role := ""
	switch {
	case own:
		role = "owner"
	case org != nil:
		role = org.RoleInOrg
	}
	roleReads := slices.Contains([]string{"owner", "admin", "write", "contributor", "read"}, role)
	roleWrites := slices.Contains([]string{"owner", "admin", "write"}, role)

	withAssumed := func(v Verdict) Verdict {
		if v.Assumed == "" {
			v.Assumed = assumed
		}
		return v
	}

	if private && !roleReads {
		v := deny(CodeNotFound, fmt.Sprintf("%s is private and %s is not a member of %s", repo, me.Name, ns),
			fmt.Sprintf("ask %s for access to %s (an org admin, if %s is an org), or use a token of an account that can see it", ns, repo, ns))
		switch {
		case org != nil && role == "no_access":
			v.Code = CodeRole
			v.Reason = fmt.Sprintf("you have the no_access role in %s; ask an org admin for the read role", ns)
			v.Action = fmt.Sprintf("ask an admin of %s to give %s the %s role", ns, me.Name, roleFor(want))
		case org == nil && info == nil:
			v.Reason = fmt.Sprintf("%s is not a member of %s, so %s can only be read if it is public", me.Name, ns, repo)
		}
		return withAssumed(v)
	}
	if org != nil && len(org.SecurityRestrictions) > 0 {
		return withAssumed(restrictionVerdict(ep, me, org, repo, want))
	}

	tok := tokenGrants(me, repo, org, info)
	if want == Write {
		if !roleWrites {
			return withAssumed(roleVerdict(ns, role, own, org != nil, repo))
		}
		if !tok.writes {
			return withAssumed(tok.denial(ep, repo, Write))
		}
		return withAssumed(Verdict{Allowed: true, Code: CodeAllowed,
			Reason: fmt.Sprintf("%s and %s can write", roleSentence(ns, role), tok.subject())})
	}

	// Read of a private or gated repo.
	if roleReads {
		if tok.reads {
			return withAssumed(Verdict{Allowed: true, Code: CodeAllowed,
				Reason: fmt.Sprintf("%s and %s can read", roleSentence(ns, role), tok.subject())})
		}
		if gated.IsGated() && !private && tok.fine && tok.canReadGated {
			return withAssumed(Verdict{Allowed: true, Code: CodeAllowed,
				Reason: fmt.Sprintf("%s and the fine-grained token may read public gated repos", roleSentence(ns, role))})
		}
		return withAssumed(tok.denial(ep, repo, Read))
	}
	// A public gated repo outside the user's namespaces: the user's access
	// request must have been granted, which whoami cannot tell.
	gate := fmt.Sprintf("%s has been granted access to the gated repo %s (request it at %s%s)", me.Name, repo, ep, repo.WebPath())
	if tok.fine && !tok.reads && !tok.canReadGated {
		v := deny(CodeGated, fmt.Sprintf("%s is gated and this fine-grained token may not read public gated repos", repo),
			fmt.Sprintf("enable access to public gated repositories in the token's settings at %s/settings/tokens, or create a fine-grained token with it at %s/settings/tokens/new?tokenType=fineGrained", ep, ep))
		return withAssumed(v)
	}
	return withAssumed(Verdict{Allowed: true, Code: CodeAllowed, Assumed: "assuming " + gate,
		Reason: fmt.Sprintf("%s is gated: %s can read it if %s", repo, tok.subject(), gate)})
}

func deny(code Code, reason, action string) Verdict {
	return Verdict{Code: code, Reason: reason, Action: action}
}

func roleFor(want Access) string {
	if want == Write {
		return "write"
	}
	return "read"
}

func roleSentence(ns, role string) string {
	if role == "owner" {
		return fmt.Sprintf("%s is your own namespace", ns)
	}
	return fmt.Sprintf("you have the %s role in %s", role, ns)
}

// roleVerdict explains a role that cannot write.
func roleVerdict(ns, role string, own, member bool, repo hubapi.RepoRef) Verdict {
	switch {
	case role == "contributor":
		return deny(CodeRole, fmt.Sprintf("you have the contributor role in %s: contributors can open pull requests but not push", ns),
			fmt.Sprintf("open a pull request instead, or ask an admin of %s for the write role", ns))
	case role == "read" || role == "no_access":
		return deny(CodeRole, fmt.Sprintf("you have the %s role in %s; ask an org admin for the write role", role, ns),
			fmt.Sprintf("ask an admin of %s to give you the write role", ns))
	case member:
		return deny(CodeRole, fmt.Sprintf("your role %q in %s does not allow writing", role, ns),
			fmt.Sprintf("ask an admin of %s for the write role", ns))
	}
	return deny(CodeRole, fmt.Sprintf("%s belongs to %s and you are not a member of it, so you cannot write to it", repo, ns),
		fmt.Sprintf("open a pull request on %s, or ask %s to add you with the write role", repo, ns))
}

// restrictionVerdict explains an org's securityRestrictions, the troubleshooting
// messages of hf-hub-auth.md §1.6 turned into things to do.
func restrictionVerdict(ep string, me *hubapi.Whoami, org *hubapi.Org, repo hubapi.RepoRef, want Access) Verdict {
	rs := org.SecurityRestrictions
	name := org.Name
	fine := fmt.Sprintf("%s/settings/tokens/new?tokenType=fineGrained", ep)
	classic := me.Auth.AccessToken != nil && me.Auth.AccessToken.Role != hubapi.RoleFineGrained
	v := Verdict{Code: CodeRestriction}
	switch {
	case slices.Contains(rs, "token-revoked"):
		v.Reason = fmt.Sprintf("an admin of %s revoked this token for %s's resources", name, name)
		v.Action = fmt.Sprintf("create a new token at %s/settings/tokens, or ask an admin of %s why it was revoked", ep, name)
	case slices.Contains(rs, "token-policy"):
		v.Reason = fmt.Sprintf("the %s token policy requires an admin to approve this token", name)
		v.Action = fmt.Sprintf("ask an admin of %s to approve the token", name)
		if classic {
			v.Reason += fmt.Sprintf(" (or %s accepts only fine-grained tokens)", name)
			v.Action += fmt.Sprintf(", or create a fine-grained token scoped to %s with %s at %s", name, perm(want), fine)
		}
	case slices.Contains(rs, "mfa"):
		v.Reason = fmt.Sprintf("%s requires two-factor authentication and your account does not have it enabled", name)
		v.Action = fmt.Sprintf("enable two-factor authentication in your account settings at %s/settings/account, then retry", ep)
	case slices.Contains(rs, "sso"):
		v.Reason = fmt.Sprintf("%s requires single sign-on and this session has not signed in through it", name)
		v.Action = fmt.Sprintf("sign in to %s with SSO in a browser at %s/%s, then retry", name, ep, name)
	case slices.Contains(rs, "ip"):
		v.Reason = fmt.Sprintf("%s accepts requests only from allowed IP addresses, and this machine's address is not one of them", name)
		v.Action = fmt.Sprintf("connect from an allowed network (VPN) or ask an admin of %s to allow this address", name)
	default:
		v.Reason = fmt.Sprintf("%s restricts this token (%s)", name, strings.Join(rs, ", "))
		v.Action = fmt.Sprintf("ask an admin of %s what the restriction means", name)
	}
	return v
}

func perm(want Access) string {
	if want == Write {
		return hubapi.PermRepoWrite
	}
	return hubapi.PermRepoRead
}

// grants is what the token itself allows on one repo.
type grants struct {
	role          string // the token's role
	fine          bool
	reads, writes bool
	canReadGated  bool
	matched       bool   // a fine-grained scope names the user, org or repo
	scopeName     string // what a matching scope names
	ns            string
}

func tokenGrants(me *hubapi.Whoami, repo hubapi.RepoRef, org *hubapi.Org, info *hubapi.RepoInfo) grants {
	g := grants{ns: repo.Namespace}
	at := me.Auth.AccessToken
	if at == nil && me.Auth.Type == AuthOAuth {
		// Issue 14: a device-login token (hf auth login, hfbroker login
		// --web) has no accessToken block. huggingface_hub's device client
		// asks for no scope, and the token acts as the user on the Hub, so
		// it counts as a write token here (UNVERIFIED against the real Hub;
		// the Hub's auth-check stays authoritative).
		g.role = hubapi.RoleWrite
		g.reads, g.writes = true, true
		return g
	}
	if at == nil {
		return g
	}
	g.role = at.Role
	switch at.Role {
	case hubapi.RoleRead:
		g.reads = true
		return g
	case hubapi.RoleWrite:
		g.reads, g.writes = true, true
		return g
	case hubapi.RoleFineGrained:
		g.fine = true
	default:
		return g
	}
	if at.FineGrained == nil {
		return g
	}
	g.canReadGated = at.FineGrained.CanReadGatedRepos
	for _, s := range at.FineGrained.Scoped {
		if scopeRank(me, repo, org, info, s.Entity) > RankNamespace {
			continue
		}
		g.matched = true
		// Name the narrowest matching scope; an entity may come without a name.
		name := s.Entity.Name
		if name == "" {
			name = repo.Namespace
			if s.Entity.Type != "user" && s.Entity.Type != "org" {
				name = repo.String()
			}
		}
		if g.scopeName == "" || s.Entity.Type != "user" && s.Entity.Type != "org" {
			g.scopeName = name
		}
		g.reads = g.reads || slices.Contains(s.Permissions, hubapi.PermRepoRead)
		g.writes = g.writes || slices.Contains(s.Permissions, hubapi.PermRepoWrite)
	}
	return g
}

// label names the token for sentences: "the write token".
func (g grants) label() string {
	switch g.role {
	case hubapi.RoleRead, hubapi.RoleWrite:
		return "the " + g.role + " token"
	case hubapi.RoleFineGrained:
		return "the fine-grained token"
	case "":
		return "a token without access-token metadata"
	}
	return fmt.Sprintf("a %q token", g.role)
}

func (g grants) subject() string {
	if g.fine && g.matched {
		return fmt.Sprintf("the fine-grained token scoped to %s", g.scopeName)
	}
	return g.label()
}

// denial explains why the token itself falls short.
func (g grants) denial(ep string, repo hubapi.RepoRef, want Access) Verdict {
	fine := fmt.Sprintf("%s/settings/tokens/new?tokenType=fineGrained", ep)
	create := fmt.Sprintf("create a fine-grained token scoped to %s (or to %s) with %s at %s", g.ns, repo, perm(want), fine)
	switch {
	case g.role == hubapi.RoleRead && want == Write:
		return deny(CodeTokenRole, "read token cannot write", create+", or use a write token")
	case g.fine && !g.matched:
		return deny(CodeScope, fmt.Sprintf("fine-grained token is not scoped to %s", g.ns), create)
	case g.fine:
		return deny(CodeScope, fmt.Sprintf("fine-grained token is scoped to %s without %s", g.scopeName, perm(want)),
			fmt.Sprintf("add %s to the token's %s scope in its settings at %s/settings/tokens, or %s", perm(want), g.scopeName, ep, create))
	}
	return deny(CodeTokenRole, fmt.Sprintf("hfbroker cannot tell what %s may do", g.label()),
		fmt.Sprintf("use a read, write or fine-grained user access token (create one at %s/settings/tokens)", ep))
}

// Least-privilege ranks returned by Privilege; lower is narrower.
const (
	RankRepoScoped  = 0 // fine-grained, scoped to the repo itself
	RankNamespace   = 1 // fine-grained, scoped to the repo's namespace (org or own user)
	RankFineGrained = 2 // fine-grained, scoped elsewhere
	RankRead        = 3 // classic read
	RankWrite       = 4 // classic write
	RankUnknown     = 5 // no metadata, OAuth, or an unknown role
)

// scopeRank says how closely a scoped entity fits the repo: the repo
// itself, its namespace, or something else. Entities match by name or by
// id, since the Hub's name field is optional.
func scopeRank(me *hubapi.Whoami, repo hubapi.RepoRef, org *hubapi.Org, info *hubapi.RepoInfo, e hubapi.Entity) int {
	ns := repo.Namespace
	switch e.Type {
	case "user":
		mine := strings.EqualFold(e.Name, me.Name) || (e.ID != "" && e.ID == me.ID)
		if mine && strings.EqualFold(ns, me.Name) {
			return RankNamespace
		}
	case "org":
		if (e.Name != "" && strings.EqualFold(e.Name, ns)) || (org != nil && e.ID != "" && e.ID == org.ID) {
			return RankNamespace
		}
	case repo.Type.String():
		// The name of a repo entity may or may not carry a datasets/ prefix
		// (UNVERIFIED), so both forms match.
		if e.Name != "" && (strings.EqualFold(e.Name, repo.ID()) || strings.EqualFold(e.Name, repo.String())) {
			return RankRepoScoped
		}
		if info != nil && info.ObjectID != "" && e.ID == info.ObjectID {
			return RankRepoScoped
		}
	}
	return RankFineGrained
}

// AuthOAuth is whoami's auth.type for an OAuth access token.
const AuthOAuth = "oauth"

// Privilege ranks a token for least-privilege choice on repo: fine-grained
// scoped to the repo < scoped to its namespace < other fine-grained <
// classic read < classic write. Lower is narrower.
func Privilege(me *hubapi.Whoami, repo hubapi.RepoRef) int {
	if me != nil && me.Auth.AccessToken == nil && me.Auth.Type == AuthOAuth {
		return RankWrite // see tokenGrants
	}
	if me == nil || me.Auth.AccessToken == nil {
		return RankUnknown
	}
	switch me.Auth.AccessToken.Role {
	case hubapi.RoleRead:
		return RankRead
	case hubapi.RoleWrite:
		return RankWrite
	case hubapi.RoleFineGrained:
	default:
		return RankUnknown
	}
	best := RankFineGrained
	if fg := me.Auth.AccessToken.FineGrained; fg != nil {
		var org *hubapi.Org
		for i := range me.Orgs {
			if strings.EqualFold(me.Orgs[i].Name, repo.Namespace) {
				org = &me.Orgs[i]
			}
		}
		for _, s := range fg.Scoped {
			best = min(best, scopeRank(me, repo, org, nil, s.Entity))
		}
	}
	return best
}

// Rank orders tokens for least-privilege choice of want on repo; lower is
// narrower. For a write it is Privilege. For a read, first the tokens that
// cannot write to the repo (fine-grained read-only scoped to the repo < to
// the namespace < scoped elsewhere < classic read), then those that can, in
// the write order: a job that only reads never gets a token that could
// push when one that cannot would do. Tokens nothing is known about rank
// last.
func Rank(me *hubapi.Whoami, repo hubapi.RepoRef, want Access, info *hubapi.RepoInfo) int {
	r := Privilege(me, repo)
	switch {
	case want != Read:
		return r
	case r == RankUnknown:
		return 2 * RankUnknown
	case canWrite(me, repo, info):
		return RankUnknown + r
	}
	return r
}

// canWrite reports whether the token itself (whatever the user's role)
// grants writing to repo.
func canWrite(me *hubapi.Whoami, repo hubapi.RepoRef, info *hubapi.RepoInfo) bool {
	var org *hubapi.Org
	for i := range me.Orgs {
		if strings.EqualFold(me.Orgs[i].Name, repo.Namespace) {
			org = &me.Orgs[i]
			break
		}
	}
	return tokenGrants(me, repo, org, info).writes
}

// Candidate is a stored token as the chooser sees it: its profile name and
// its whoami metadata (nil if never fetched).
type Candidate struct {
	Name string
	Me   *hubapi.Whoami
}

// Denial is why one candidate cannot serve the request.
type Denial struct {
	Name   string
	Code   Code
	Reason string
	Action string
}

// Choose returns the least-privileged candidate (by Rank) allowed to do want on repo;
// ties keep the candidates' order, so the caller decides (e.g. the default
// profile first). When none is allowed it returns "" and one denial per
// candidate, in order.
func (p Policy) Choose(cands []Candidate, repo hubapi.RepoRef, want Access, info *hubapi.RepoInfo, now time.Time) (string, []Denial) {
	chosen, rank := "", math.MaxInt
	var denials []Denial
	for _, c := range cands {
		v := p.Decide(c.Me, repo, want, info, now)
		if !v.Allowed {
			denials = append(denials, Denial{Name: c.Name, Code: v.Code, Reason: v.Reason, Action: v.Action})
			continue
		}
		if r := Rank(c.Me, repo, want, info); r < rank {
			chosen, rank = c.Name, r
		}
	}
	if chosen != "" {
		return chosen, nil
	}
	return "", denials
}

// Want is one repo (or "ns/*" pattern) of a request for several, with the
// access asked for it and what is known of its visibility (nil: unknown,
// treated as private; always nil for a pattern).
type Want struct {
	Repo   hubapi.RepoRef
	Access Access
	Info   *hubapi.RepoInfo
}

// ChooseAll returns the least-privileged candidate allowed to do every want:
// a candidate's rank is its highest Rank over the wants (the broadest power
// it must be trusted with), ties broken by the sum of its ranks, then by the
// candidates' order. When none is allowed it returns "" and one denial per
// candidate, in order, for the first want it fails on; the reason names
// that repo.
func (p Policy) ChooseAll(cands []Candidate, wants []Want, now time.Time) (string, []Denial) {
	chosen, worst, sum := "", math.MaxInt, math.MaxInt
	var denials []Denial
	for _, c := range cands {
		w, s, denied := 0, 0, false
		for _, want := range wants {
			v := p.Decide(c.Me, want.Repo, want.Access, want.Info, now)
			if !v.Allowed {
				denials = append(denials, Denial{Name: c.Name, Code: v.Code,
					Reason: fmt.Sprintf("cannot %s %s: %s", want.Access, want.Repo, v.Reason), Action: v.Action})
				denied = true
				break
			}
			r := Rank(c.Me, want.Repo, want.Access, want.Info)
			w, s = max(w, r), s+r
		}
		if denied {
			continue
		}
		if w < worst || (w == worst && s < sum) {
			chosen, worst, sum = c.Name, w, s
		}
	}
	if chosen != "" {
		return chosen, nil
	}
	return "", denials
}
