package proxy

import (
	"sync"
	"time"

	"github.com/hfbroker/hfbroker/internal/hub"
)

// The Hub's multipart LFS upload (huggingface_hub lfs.py _upload_multi_part,
// and HF's git-lfs "multipart" transfer agent): the upload action's header
// lists presigned part URLs and chunk_size, and its href is the Hub's
// completion URL, /api/complete_multipart?uploadId=…&signature=…, which
// clients post without any credential: its signature authorises it.
// huggingface_hub rewrites the Hub's URLs to HF_ENDPOINT, so the completion
// reaches the proxy without a lease token. The proxy points the href at
// itself when it rewrites the batch answer (lfs.go) and remembers it here,
// for the lease that asked: a POST to exactly that path and query, without
// credentials, is forwarded to that lease's endpoint, without a token, while
// the lease lives and may write the repo. Nothing else goes through without
// a lease token, and the proxy adds no credential to it.

// completionTTL is how long a completion URL the proxy handed out is
// honoured: an upload of many GB takes a while, and the Hub's own signature
// expires on its own.
const completionTTL = 24 * time.Hour

// maxCompletions bounds the table; past it, the oldest entries go first.
const maxCompletions = 4096

type completion struct {
	leaseToken string
	repo       hub.RepoRef
	expires    time.Time
}

// completions are the multipart completion URLs the proxy handed out, by
// request URI (escaped path and query, as the client sends them back).
type completions struct {
	mu    sync.Mutex
	now   func() time.Time
	byURI map[string]completion
	order []string // insertion order, for eviction
}

func newCompletions() *completions {
	return &completions{now: time.Now, byURI: map[string]completion{}}
}

// add remembers uri for the lease token's upload to repo.
func (c *completions) add(uri, leaseToken string, repo hub.RepoRef) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if _, ok := c.byURI[uri]; !ok {
		c.order = append(c.order, uri)
	}
	c.byURI[uri] = completion{leaseToken: leaseToken, repo: repo, expires: now.Add(completionTTL)}
	for len(c.order) > 0 && (len(c.byURI) > maxCompletions || c.byURI[c.order[0]].expires.Before(now)) {
		delete(c.byURI, c.order[0])
		c.order = c.order[1:]
	}
}

// lookup returns the completion handed out for uri, if it has not expired.
func (c *completions) lookup(uri string) (completion, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byURI[uri]
	if !ok || e.expires.Before(c.now()) {
		return completion{}, false
	}
	return e, true
}
