package broker

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/hfbroker/hfbroker/internal/hubapi"
	"github.com/hfbroker/hfbroker/internal/secret"
)

// RepoInfoer fetches a repo's visibility and gating; the Hub client does.
type RepoInfoer interface {
	RepoInfo(ctx context.Context, endpoint string, tok secret.Token, repo hubapi.RepoRef) (*hubapi.RepoInfo, error)
}

// repoInfoTTL bounds how long a repo's visibility is trusted; a miss is
// remembered for less, since a repo may be created or shared meanwhile.
const (
	repoInfoTTL     = 5 * time.Minute
	repoInfoMissTTL = time.Minute
)

type repoInfoEntry struct {
	info *hubapi.RepoInfo
	at   time.Time
}

// repoInfo returns whether repo is public or gated, asking the Hub with the
// first stored token that can see it, and caching the answer. nil means
// unknown: the access model then treats the repo as private.
func (b *Broker) repoInfo(ctx context.Context, repo hubapi.RepoRef, endpoint string) *hubapi.RepoInfo {
	ri, ok := b.opts.Hub.(RepoInfoer)
	if !ok {
		return nil
	}
	key := strings.ToLower(endpoint + "|" + repo.String())
	now := b.now()
	b.mu.Lock()
	e, hit := b.repoInfos[key]
	b.mu.Unlock()
	if hit && (now.Sub(e.at) < repoInfoMissTTL || (e.info != nil && now.Sub(e.at) < repoInfoTTL)) {
		return e.info
	}
	var info *hubapi.RepoInfo
	asked := false // a nil answer is cached only if the Hub was asked
	ps, _ := b.Profiles()
	for _, p := range ps {
		if p.Rejected || (endpoint != "" && !strings.EqualFold(strings.TrimRight(endpoint, "/"), p.Endpoint)) {
			continue
		}
		tok, err := b.token(ctx, p.Name)
		if err != nil {
			continue
		}
		got, err := ri.RepoInfo(ctx, p.Endpoint, tok, repo)
		if err == nil {
			info = got
			break
		}
		var he *hubapi.HTTPError
		if errors.As(err, &he) {
			asked = true // the Hub answered (404, 401…): worth remembering
		}
	}
	if info != nil || asked {
		b.mu.Lock()
		b.repoInfos[key] = repoInfoEntry{info: info, at: now}
		b.mu.Unlock()
	}
	return info
}
