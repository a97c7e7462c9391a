package broker

import (
	"fmt"
	"path"
	"strings"
)

// choose picks the profile for a lease: the named profile; else a config
// route matching the repo; else the least-privileged token whose Hub metadata
// allows the repo and access; else, when no repo was named, the default.
func (b *Broker) choose(req LeaseRequest) (Profile, error) {
	if req.Profile != "" {
		p, err := b.profile(req.Profile)
		if err != nil {
			return Profile{}, err
		}
		if err := b.endpointMatches(p, req.Endpoint); err != nil {
			return Profile{}, err
		}
		if req.Repo != nil {
			if reason := b.denyReason(p, req); reason != "" {
				return Profile{}, &Error{Kind: KindAccessDenied, Msg: fmt.Sprintf("profile %q cannot %s %s: %s", p.Name, req.Access, req.Repo, reason),
					Hint: "run 'hfbroker doctor " + req.Repo.String() + "' for what to do", Reasons: []Reason{{p.Name, reason}}}
			}
		}
		return p, nil
	}
	if req.Repo != nil {
		if name, ok := b.route(req); ok {
			p, err := b.profile(name)
			if err != nil {
				return Profile{}, fmt.Errorf("route for %s: %w", req.Repo, err)
			}
			return p, nil
		}
		return b.chooseForRepo(req)
	}
	p, err := b.profile("")
	if err != nil {
		return Profile{}, err
	}
	if err := b.endpointMatches(p, req.Endpoint); err != nil {
		return Profile{}, err
	}
	return p, nil
}

func (b *Broker) endpointMatches(p Profile, endpoint string) error {
	if endpoint == "" || strings.EqualFold(strings.TrimRight(endpoint, "/"), p.Endpoint) {
		return nil
	}
	return &Error{Kind: KindAccessDenied, Msg: fmt.Sprintf("profile %q is for %s, not %s", p.Name, p.Endpoint, endpoint),
		Hint: "log in for that endpoint with HF_ENDPOINT=" + endpoint + " hfbroker login", Reasons: []Reason{{p.Name, "bound to " + p.Endpoint}}}
}

// route returns the profile of the first config route matching the repo.
func (b *Broker) route(req LeaseRequest) (string, bool) {
	id := req.Repo.String()
	for _, r := range b.opts.Routes {
		if ok, _ := path.Match(r.Match, id); ok {
			return r.Profile, true
		}
	}
	return "", false
}
