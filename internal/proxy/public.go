package proxy

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hfbroker/hfbroker/internal/hub"
)

// Public read-through: a lease may read public repos it does not name. The
// proxy asks the Hub (GET /api/{type}s/NS/NAME with the lease's real token,
// as the broker's repoinfo.go does) and remembers the answer briefly. Only
// whether the repo is private matters: a public gated repo is forwarded and
// the Hub itself answers GatedRepo when the token was not granted access.

// publicTTL bounds how long an answer is trusted: a repo made private is
// refused within it. maxPublicEntries bounds the cache.
const (
	publicTTL        = time.Minute
	maxPublicEntries = 4096
)

type publicEntry struct {
	public bool
	at     time.Time
}

// publicCache is keyed by the SHA-256 of endpoint, token and repo: what one
// token may see is not what another may, and the key holds no token.
type publicCache struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]publicEntry
}

func newPublicCache() *publicCache { return &publicCache{m: map[[sha256.Size]byte]publicEntry{}} }

func publicKey(l Lease, repo hub.RepoRef) [sha256.Size]byte {
	return sha256.Sum256([]byte(l.Endpoint + "\x00" + l.Token.Reveal() + "\x00" + repo.Type.String() + "/" + strings.ToLower(repo.ID())))
}

// isPublic reports whether repo is public for the lease's token. A repo the
// Hub does not show the token (404, 401, 403) is not; an unreachable Hub is
// an error.
func (p *Proxy) isPublic(ctx context.Context, l Lease, repo hub.RepoRef) (bool, error) {
	key := publicKey(l, repo)
	now := time.Now()
	p.public.mu.Lock()
	e, ok := p.public.m[key]
	p.public.mu.Unlock()
	if ok && now.Sub(e.at) < publicTTL {
		return e.public, nil
	}
	info, err := p.repoInfo(ctx, l.Endpoint, l.Token, repo)
	public := err == nil && info != nil && !info.Private && !info.Disabled
	var he *hub.HTTPError
	switch {
	case err != nil && !errors.As(err, &he):
		return false, errors.New("the Hub could not be reached")
	case err != nil && he.Code == "GatedRepo":
		// A Hub that guards a gated repo's info too: the repo is public,
		// and the request gets the Hub's own GatedRepo answer.
		public = true
	case err != nil && he.Status != http.StatusNotFound && he.Status != http.StatusUnauthorized && he.Status != http.StatusForbidden:
		// 429, 5xx: no answer about the repo, and nothing to remember.
		return false, fmt.Errorf("the Hub answered %d", he.Status)
	}
	p.public.mu.Lock()
	if len(p.public.m) >= maxPublicEntries {
		clear(p.public.m)
	}
	p.public.m[key] = publicEntry{public: public, at: now}
	p.public.mu.Unlock()
	return public, nil
}

// endedMessage says, for a token of a lease that has ended, which lease and
// why: "lease l-… ended: its TTL passed; start the job again for a new
// lease". "" when the token is unknown.
func (p *Proxy) endedMessage(leaseToken string) string {
	el, ok := p.leases.(EndedLeases)
	if !ok {
		return ""
	}
	id, ok := el.Ended(leaseToken)
	if !ok {
		return ""
	}
	cause := "it is no longer live"
	if p.ended != nil {
		if c, ok := p.ended(id); ok {
			cause = c
		}
	}
	return "lease " + id + " ended: " + cause + "; start the job again for a new lease"
}
