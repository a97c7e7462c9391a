package broker

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/hfbroker/hfbroker/internal/access"
)

// choose picks the profile for a lease: the named profile; else a config
// route matching the repo, when its profile can do what was asked; else the
// least-privileged token whose Hub metadata allows the repo and access; else,
// when no repo was named, the default.
func (b *Broker) choose(ctx context.Context, req LeaseRequest) (Profile, error) {
	if len(req.Repos) > 0 {
		return b.chooseForRepos(ctx, req)
	}
	if req.Profile != "" {
		p, err := b.profile(req.Profile)
		if err != nil {
			return Profile{}, err
		}
		if err := b.endpointMatches(p, req.Endpoint); err != nil {
			return Profile{}, err
		}
		if req.Repo != nil {
			if reason := b.denyReason(ctx, p, req); reason != "" {
				return Profile{}, &Error{Kind: KindAccessDenied, Msg: fmt.Sprintf("profile %q cannot %s %s: %s", p.Name, req.Access, req.Repo, reason),
					Hint: "run 'hfbroker doctor " + req.Repo.String() + "' for what to do", Reasons: []Reason{{p.Name, reason}}}
			}
		}
		return p, nil
	}
	if req.Repo != nil {
		if r, ok := b.route(req); ok {
			p, err := b.profile(r.Profile)
			if err != nil {
				return Profile{}, fmt.Errorf("route %q for %s: %w", r.Match, req.Repo, err)
			}
			// A route picks the profile, not the Hub: a token bound to one
			// endpoint never goes to another.
			if err := b.endpointMatches(p, req.Endpoint); err != nil {
				return Profile{}, err
			}
			// And it picks only among the tokens that can do the job: a
			// route to a read-only token does not turn a push into a read
			// (issue 19), nor is a token the Hub rejected handed out.
			if reason := b.denyReason(ctx, p, req); reason != "" {
				hint := "change the route in config.toml (it applies without a restart), or run 'hfbroker doctor " + req.Repo.String() + writeFlag(req.Access) + "'"
				if p.Rejected {
					hint = "run 'hfbroker login --name " + p.Name + "' with a new token"
				}
				return Profile{}, &Error{Kind: KindAccessDenied,
					Msg:  fmt.Sprintf("route %q in config.toml sends %s to profile %q, which cannot %s it", r.Match, req.Repo, p.Name, accessOrRead(req.Access)),
					Hint: hint, Reasons: []Reason{{p.Name, reason}}}
			}
			return p, nil
		}
		return b.chooseForRepo(ctx, req)
	}
	name := ""
	if r, ok := b.dirRoute(req); ok {
		name = r
	}
	p, err := b.profile(name)
	if err != nil {
		if name != "" {
			return Profile{}, fmt.Errorf("route for this directory: %w", err)
		}
		return Profile{}, err
	}
	if err := b.endpointMatches(p, req.Endpoint); err != nil {
		return Profile{}, err
	}
	return p, nil
}

// dirRoute returns the profile of the first config route whose directory
// holds the working directory of the lease's process: a Jupyter kernel runs
// in its notebook's directory, so a kernel started in ~/work/acme can get the
// acme profile. The directory is read from /proc, not taken from the request.
func (b *Broker) dirRoute(req LeaseRequest) (string, bool) {
	pid := req.Caller.PID
	if req.PID != 0 {
		pid = req.PID
	}
	if pid == 0 {
		return "", false
	}
	var cwd string
	for _, r := range b.cfg().Routes {
		if r.Dir == "" {
			continue
		}
		if cwd == "" {
			if cwd = b.opts.Procs.Cwd(pid); cwd == "" {
				return "", false
			}
		}
		if cwd == r.Dir || strings.HasPrefix(cwd, strings.TrimSuffix(r.Dir, "/")+"/") {
			return r.Profile, true
		}
	}
	return "", false
}

func (b *Broker) endpointMatches(p Profile, endpoint string) error {
	if endpoint == "" || strings.EqualFold(strings.TrimRight(endpoint, "/"), p.Endpoint) {
		return nil
	}
	return &Error{Kind: KindAccessDenied, Msg: fmt.Sprintf("profile %q is for %s, not %s", p.Name, p.Endpoint, endpoint),
		Hint: "log in for that endpoint with HF_ENDPOINT=" + endpoint + " hfbroker login", Reasons: []Reason{{p.Name, "bound to " + p.Endpoint}}}
}

// route returns the first config route matching the repo. (config.Load
// rejects patterns that cannot match a repo id.)
func (b *Broker) route(req LeaseRequest) (Route, bool) {
	id := req.Repo.String()
	for _, r := range b.cfg().Routes {
		if r.Match == "" {
			continue
		}
		if ok, _ := path.Match(r.Match, id); ok {
			return r, true
		}
	}
	return Route{}, false
}

// chooseForRepo picks the least-privileged profile whose Hub metadata allows
// the request, or explains, per profile, why none does.
func (b *Broker) chooseForRepo(ctx context.Context, req LeaseRequest) (Profile, error) {
	if req.Purpose == PurposeGit && req.Access == 0 {
		// git does not say whether it will fetch or push: hand it a token
		// that can push when one exists, else one that can read.
		if b.cfg().GitPrefer != "read" {
			w := req
			w.Access = AccessWrite
			if p, err := b.chooseForRepo(ctx, w); err == nil {
				return p, nil
			}
		}
		req.Access = AccessRead
	}
	if req.Access == 0 {
		req.Access = AccessRead
	}
	ps, _ := b.Profiles()
	if len(ps) == 0 {
		return Profile{}, errorf(KindNotFound, "run 'hfbroker login'", "no token is stored")
	}
	cands, byName, reasons := candidates(ps, req.Endpoint)
	policy := access.Policy{Endpoint: req.Endpoint}
	info := b.repoInfo(ctx, *req.Repo, req.Endpoint)
	name, denials := policy.Choose(cands, *req.Repo, req.Access, info, b.now())
	if name != "" {
		return byName[name], nil
	}
	for _, d := range denials {
		reasons = append(reasons, Reason{d.Name, d.Reason})
	}
	return Profile{}, &Error{Kind: KindNoTokenFits,
		Msg:     fmt.Sprintf("no stored token can %s %s", req.Access, req.Repo),
		Hint:    "run 'hfbroker doctor " + req.Repo.String() + writeFlag(req.Access) + "' for what to do",
		Reasons: reasons}
}

// denyReason is why a named profile cannot serve req, "" when it can (or
// when nothing is known about its token: the Hub then decides).
func (b *Broker) denyReason(ctx context.Context, p Profile, req LeaseRequest) string {
	if p.Rejected {
		return rejectedReason
	}
	if p.Whoami == nil {
		return ""
	}
	want := req.Access
	if want == 0 {
		want = AccessRead
	}
	info := b.repoInfo(ctx, *req.Repo, p.Endpoint)
	v := access.Policy{Endpoint: p.Endpoint}.Decide(p.Whoami, *req.Repo, want, info, b.now())
	if v.Allowed {
		return ""
	}
	return v.Reason
}

// accessOrRead names the access a request wants; unspecified means read.
func accessOrRead(a Access) Access {
	if a == 0 {
		return AccessRead
	}
	return a
}

func writeFlag(a Access) string {
	if a == AccessWrite {
		return " --write"
	}
	return ""
}

// rejectedReason explains a profile whose token the Hub answered 401 for.
const rejectedReason = "the Hub rejected this token (revoked or deleted); log in with a new one"

// candidates are the profiles a choice may consider for endpoint, with one
// reason for each one it may not (bound to another endpoint, rejected by
// the Hub).
func candidates(ps []Profile, endpoint string) (cands []access.Candidate, byName map[string]Profile, reasons []Reason) {
	byName = map[string]Profile{}
	for _, p := range ps {
		if endpoint != "" && !strings.EqualFold(strings.TrimRight(endpoint, "/"), p.Endpoint) {
			reasons = append(reasons, Reason{p.Name, "bound to " + p.Endpoint})
			continue
		}
		if p.Rejected {
			reasons = append(reasons, Reason{p.Name, rejectedReason})
			continue
		}
		cands = append(cands, access.Candidate{Name: p.Name, Me: p.Whoami})
		byName[p.Name] = p
	}
	return cands, byName, reasons
}
