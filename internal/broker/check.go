package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hfbroker/hfbroker/internal/access"
	"github.com/hfbroker/hfbroker/internal/hubapi"
	"github.com/hfbroker/hfbroker/internal/secret"
)

// AuthChecker asks the Hub itself whether a token may read or write a repo;
// the Hub client implements it.
type AuthChecker interface {
	AuthCheck(ctx context.Context, endpoint string, tok secret.Token, repo hubapi.RepoRef, write bool) error
}

// Check is one profile's verdict for a repo and access.
type Check struct {
	Profile string
	Rank    int
	access.Verdict
	HubChecked bool
	HubAllowed bool
	HubStatus  int
	HubCode    string
	HubMessage string
}

// Choice is what a lease for a repo would get.
type Choice struct {
	Profile string // "" when the lease would be refused
	Route   string // the match pattern of the route that decides, if any
	Refusal string // why it would be refused, when a route refuses it or the store cannot give the token
}

// CheckRepo explains, for every profile bound to endpoint (all when empty),
// whether its token can do want on repo, from its Hub metadata; with askHub,
// also what the Hub's auth-check says. It returns what a lease would get.
func (b *Broker) CheckRepo(ctx context.Context, repo hubapi.RepoRef, want Access, endpoint string, askHub bool) ([]Check, Choice, error) {
	if want == 0 {
		want = AccessRead
	}
	b.refreshStale(ctx)
	ps, _ := b.Profiles()
	var out []Check
	for _, p := range ps {
		if endpoint != "" && !strings.EqualFold(strings.TrimRight(endpoint, "/"), p.Endpoint) {
			continue
		}
		info := b.repoInfo(ctx, repo, p.Endpoint)
		c := Check{Profile: p.Name, Rank: access.Rank(p.Whoami, repo, want, info)}
		c.Verdict = access.Policy{Endpoint: p.Endpoint}.Decide(p.Whoami, repo, want, info, b.now())
		if p.Rejected {
			c.Verdict = access.Verdict{Code: "rejected", Reason: rejectedReason,
				Action: fmt.Sprintf("create a new token at %s/settings/tokens and log in with it: hfbroker login --name %s", p.Endpoint, p.Name)}
		}
		if askHub {
			if ac, ok := b.opts.Hub.(AuthChecker); ok {
				tok, err := b.token(ctx, p.Name)
				if err != nil {
					// One unreadable token is that profile's verdict, not
					// the end of the whole check.
					c.Verdict = access.Verdict{Code: "unreadable", Reason: err.Error(), Action: HintOf(err)}
					out = append(out, c)
					continue
				}
				err = ac.AuthCheck(ctx, p.Endpoint, tok, repo, want == AccessWrite)
				c.HubChecked = true
				c.HubAllowed = err == nil
				if errors.Is(err, hubapi.ErrInvalidToken) {
					b.markRejected(p.Name, p.Fingerprint)
					c.Verdict = access.Verdict{Code: "rejected", Reason: rejectedReason,
						Action: fmt.Sprintf("create a new token at %s/settings/tokens and log in with it: hfbroker login --name %s", p.Endpoint, p.Name)}
				}
				if c.HubAllowed {
					c.HubStatus = 200
				} else if he, ok := errors.AsType[*hubapi.HTTPError](err); ok {
					c.HubStatus, c.HubCode, c.HubMessage = he.Status, he.Code, he.Message
				} else if rl, ok := errors.AsType[*hubapi.RateLimitError](err); ok {
					c.HubStatus, c.HubCode, c.HubMessage = rl.Status, rl.Code, rl.Message
				} else {
					c.HubMessage = err.Error()
				}
			}
		}
		out = append(out, c)
	}
	req := LeaseRequest{Repo: &repo, Access: want, Endpoint: endpoint}
	var ch Choice
	if r, ok := b.route(req); ok {
		ch.Route = r.Match
	}
	if p, err := b.choose(ctx, req); err == nil {
		// A lease also reads the token: one the store cannot give (the
		// vault locked, the token gone from the store) is refused.
		if _, err := b.token(ctx, p.Name); err != nil {
			ch.Refusal = err.Error()
			if h := HintOf(err); h != "" {
				ch.Refusal += "; " + h
			}
		} else {
			ch.Profile = p.Name
		}
	} else if ch.Route != "" {
		ch.Refusal = err.Error()
	}
	return out, ch, nil
}
