package broker

import (
	"context"
	"errors"
	"strings"

	"github.com/hfbroker/hfbroker/internal/access"
	"github.com/hfbroker/hfbroker/internal/hub"
	"github.com/hfbroker/hfbroker/internal/secret"
)

// AuthChecker asks the Hub itself whether a token may read or write a repo;
// the Hub client implements it.
type AuthChecker interface {
	AuthCheck(ctx context.Context, endpoint string, tok secret.Token, repo hub.RepoRef, write bool) error
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

// CheckRepo explains, for every profile bound to endpoint (all when empty),
// whether its token can do want on repo, from its Hub metadata; with askHub,
// also what the Hub's auth-check says. It returns the profile a lease would
// get ("" when none fits).
func (b *Broker) CheckRepo(ctx context.Context, repo hub.RepoRef, want Access, endpoint string, askHub bool) ([]Check, string, error) {
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
		c := Check{Profile: p.Name, Rank: access.Privilege(p.Whoami, repo)}
		c.Verdict = access.Policy{Endpoint: p.Endpoint}.Decide(p.Whoami, repo, accessOf(want), nil, b.now())
		if askHub {
			if ac, ok := b.opts.Hub.(AuthChecker); ok {
				tok, err := b.token(ctx, p.Name)
				if err != nil {
					return nil, "", err
				}
				err = ac.AuthCheck(ctx, p.Endpoint, tok, repo, want == AccessWrite)
				c.HubChecked = true
				c.HubAllowed = err == nil
				if c.HubAllowed {
					c.HubStatus = 200
				} else if he, ok := errors.AsType[*hub.HTTPError](err); ok {
					c.HubStatus, c.HubCode, c.HubMessage = he.Status, he.Code, he.Message
				} else if rl, ok := errors.AsType[*hub.RateLimitError](err); ok {
					c.HubStatus, c.HubCode, c.HubMessage = rl.Status, rl.Code, rl.Message
				} else {
					c.HubMessage = err.Error()
				}
			}
		}
		out = append(out, c)
	}
	chosen := ""
	if p, err := b.choose(LeaseRequest{Repo: &repo, Access: want, Endpoint: endpoint}); err == nil {
		chosen = p.Name
	}
	return out, chosen, nil
}
