package broker

import (
	"context"
	"fmt"
	"strings"

	"github.com/hfbroker/hfbroker/internal/access"
	"github.com/hfbroker/hfbroker/internal/hubapi"
)

// RepoGrant is one repository of a lease, or every repo of a namespace and
// type (a pattern: Repo.Name is hubapi.Wildcard, "acme/*"), with the access
// the lease has to it.
type RepoGrant struct {
	Repo   hubapi.RepoRef
	Access Access
}

// String is the form the leases list shows: "acme/llm(w)", "acme/*(r)".
func (g RepoGrant) String() string {
	if g.Access == AccessWrite {
		return g.Repo.String() + "(w)"
	}
	return g.Repo.String() + "(r)"
}

// maxRepoGrants bounds the repos of one lease.
const maxRepoGrants = 64

// repoGrants returns the repos a request names: Repos, with the older single
// Repo/Access first when it is set and not among them. Access 0 stays 0
// (git's "not said"); the choice reads it as read.
func (req LeaseRequest) repoGrants() []RepoGrant {
	if req.Repo == nil && len(req.Repos) == 0 {
		return nil // most leases name no repo: nothing to allocate
	}
	out := make([]RepoGrant, 0, len(req.Repos)+1)
	if req.Repo != nil {
		out = append(out, RepoGrant{Repo: *req.Repo, Access: req.Access})
	}
	for _, g := range req.Repos {
		if req.Repo != nil && len(out) > 0 && sameGrantRepo(out[0].Repo, g.Repo) {
			out[0].Access = max(out[0].Access, g.Access)
			continue
		}
		out = append(out, g)
	}
	return out
}

func sameGrantRepo(a, b hubapi.RepoRef) bool {
	return a.Type == b.Type && strings.EqualFold(a.Namespace, b.Namespace) && strings.EqualFold(a.Name, b.Name)
}

// normalizeRepos checks a request's repos and folds them into one form: a
// single plain repo goes in Repo/Access (the path every older client takes,
// with routes and git's preference), several, or a pattern, stay in Repos.
func normalizeRepos(req *LeaseRequest) error {
	gs := req.repoGrants()
	if len(gs) > maxRepoGrants {
		return errorf(KindInvalid, "", "a lease may name at most %d repos", maxRepoGrants)
	}
	for i, g := range gs {
		if !g.Repo.ValidPattern() {
			return errorf(KindInvalid, "name repos as namespace/name or namespace/*, e.g. acme/llm or datasets/acme/*", "%q is not a valid repo", g.Repo.String())
		}
		for _, h := range gs[:i] {
			if sameGrantRepo(g.Repo, h.Repo) {
				return errorf(KindInvalid, "name each repo once; --write-repo gives write access", "%s is named twice", g.Repo)
			}
		}
	}
	switch {
	case len(gs) == 0:
		req.Repo, req.Repos = nil, nil
	case len(gs) == 1 && !gs[0].Repo.IsPattern():
		r := gs[0].Repo
		req.Repo, req.Access, req.Repos = &r, gs[0].Access, nil
	default:
		for i := range gs {
			gs[i].Access = accessOrRead(gs[i].Access)
		}
		req.Repo, req.Access, req.Repos = nil, 0, gs
	}
	return nil
}

// repoList names a request's repos for messages: "acme/llm, datasets/acme/corpus (write)".
func repoList(gs []RepoGrant) string {
	parts := make([]string, len(gs))
	for i, g := range gs {
		parts[i] = g.String()
	}
	return strings.Join(parts, ", ")
}

// chooseForRepos picks, for a request naming several repos (or a pattern),
// the least-privileged single profile that covers all of them with the
// access asked for each; when none does, it says per profile the first repo
// it fails on. A named profile is checked against every repo. Config routes
// choose for single repos only.
func (b *Broker) chooseForRepos(ctx context.Context, req LeaseRequest) (Profile, error) {
	wants := make([]access.Want, len(req.Repos))
	for i, g := range req.Repos {
		wants[i] = access.Want{Repo: g.Repo, Access: accessOrRead(g.Access)}
	}
	fill := func(endpoint string) {
		for i := range wants {
			if !wants[i].Repo.IsPattern() {
				wants[i].Info = b.repoInfo(ctx, wants[i].Repo, endpoint)
			}
		}
	}
	hint := "run 'hfbroker doctor REPO' on the repo a token fails on for what to do, or lease the repos separately"
	if req.Profile != "" {
		p, err := b.profile(req.Profile)
		if err != nil {
			return Profile{}, err
		}
		if err := b.endpointMatches(p, req.Endpoint); err != nil {
			return Profile{}, err
		}
		if p.Rejected {
			return Profile{}, &Error{Kind: KindAccessDenied, Msg: fmt.Sprintf("profile %q cannot serve %s: %s", p.Name, repoList(req.Repos), rejectedReason),
				Hint: "run 'hfbroker login --name " + p.Name + "' with a new token", Reasons: []Reason{{p.Name, rejectedReason}}}
		}
		if p.Whoami == nil {
			return p, nil // nothing known: the Hub decides
		}
		fill(p.Endpoint)
		if _, denials := (access.Policy{Endpoint: p.Endpoint}).ChooseAll([]access.Candidate{{Name: p.Name, Me: p.Whoami}}, wants, b.now()); len(denials) > 0 {
			return Profile{}, &Error{Kind: KindAccessDenied, Msg: fmt.Sprintf("profile %q cannot serve %s", p.Name, repoList(req.Repos)),
				Hint: hint, Reasons: []Reason{{p.Name, denials[0].Reason}}}
		}
		return p, nil
	}
	ps, _ := b.Profiles()
	if len(ps) == 0 {
		return Profile{}, errorf(KindNotFound, "run 'hfbroker login'", "no token is stored")
	}
	cands, byName, reasons := candidates(ps, req.Endpoint)
	fill(req.Endpoint)
	name, denials := access.Policy{Endpoint: req.Endpoint}.ChooseAll(cands, wants, b.now())
	if name != "" {
		return byName[name], nil
	}
	for _, d := range denials {
		reasons = append(reasons, Reason{d.Name, d.Reason})
	}
	return Profile{}, &Error{Kind: KindNoTokenFits,
		Msg:     fmt.Sprintf("no single stored token covers %s", repoList(req.Repos)),
		Hint:    hint,
		Reasons: reasons}
}
