package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hfbroker/hfbroker/internal/secret"
	"github.com/hfbroker/hfbroker/internal/storeapi"
)

// tokenRead is one read of a profile's token from the store, shared by
// every caller that asks for it while it runs.
type tokenRead struct {
	gen  int
	done chan struct{}
	tok  secret.Token
	err  error
}

// storedToken reads a profile's store value, from memory after the first
// read: a classic token, or an OAuth pair (see oauth.go; token decodes it).
//
// Callers that miss the cache together share one store read: a cluster job
// starting hundreds of processes against a fresh daemon would otherwise
// queue hundreds of reads of the same keychain item, and the last ones
// would time out. A caller whose context ends stops waiting; the read goes
// on for the others, and if it was the one that failed for its own
// context's sake, the others start a new one.
func (b *Broker) storedToken(ctx context.Context, name string) (secret.Token, error) {
	for {
		b.mu.Lock()
		if tok, ok := b.tokens[name]; ok {
			b.mu.Unlock()
			return tok, nil
		}
		r, running := b.reads[name]
		if !running || r.gen != b.gen {
			r = &tokenRead{gen: b.gen, done: make(chan struct{})}
			b.reads[name] = r
			store := b.store
			b.mu.Unlock()
			b.readToken(ctx, store, name, r)
		} else {
			b.mu.Unlock()
		}
		select {
		case <-r.done:
		case <-ctx.Done():
			return "", b.storeError(ctx.Err(), name, "read the token")
		}
		if r.err != nil && ctx.Err() == nil && (errors.Is(r.err, context.Canceled) || errors.Is(r.err, context.DeadlineExceeded)) {
			continue // the reader's context ended, not ours: read again
		}
		if r.err != nil {
			return "", b.storeError(r.err, name, "read the token")
		}
		return r.tok, nil
	}
}

// readToken runs r, caching its token if the read is still current.
func (b *Broker) readToken(ctx context.Context, store Store, name string, r *tokenRead) {
	tok, err := store.Get(ctx, name)
	b.mu.Lock()
	r.tok, r.err = tok, err
	if b.reads[name] == r {
		delete(b.reads, name)
	}
	// Cache only if no lock or store change happened while we read: a
	// token read just before `hfbroker lock` must not outlive it; and only
	// the token the profile's metadata describes: a slow read may return
	// the token an AddToken has just replaced.
	if err == nil {
		if p, still := b.profiles[name]; still && r.gen == b.gen && p.Fingerprint == itemFingerprint(tok) {
			if _, cached := b.tokens[name]; !cached {
				b.tokens[name] = tok
			}
		}
	}
	b.mu.Unlock()
	close(r.done)
}

// ForgetTokens drops every token cached in memory (lock, store change).
func (b *Broker) ForgetTokens() {
	b.mu.Lock()
	b.gen++
	clear(b.tokens)
	b.mu.Unlock()
}

func (b *Broker) storeError(err error, name, doing string) error {
	switch {
	case errors.Is(err, storeapi.ErrNotFound):
		return &Error{Kind: KindNotFound, Msg: fmt.Sprintf("the %s store no longer holds the token of profile %q", b.currentStore().Kind(), name),
			Hint: fmt.Sprintf("run 'hfbroker login --name %s' to store it again", name)}
	case errors.Is(err, storeapi.ErrLocked) && b.currentStore().Kind() == "file" && !errors.Is(err, storeapi.ErrTimeout):
		return &Error{Kind: KindLocked, Msg: "locked: run 'hfbroker unlock'"}
	case errors.Is(err, storeapi.ErrTimeout):
		return &Error{Kind: KindKeychain, Msg: fmt.Sprintf("%s: the keychain did not answer in time", doing),
			Hint: "unlock your keyring (an unlock prompt may be waiting), then try again; 'hfbroker doctor' checks it"}
	case errors.Is(err, storeapi.ErrLocked):
		return &Error{Kind: KindKeychain, Msg: fmt.Sprintf("%s: the keychain is locked", doing),
			Hint: "unlock your login keyring, then try again"}
	case errors.Is(err, storeapi.ErrNoKeychain):
		return &Error{Kind: KindKeychain, Msg: fmt.Sprintf("%s: no keychain is available (%v)", doing, rootCause(err)),
			Hint: "start a Secret Service (gnome-keyring) in your session, or set backend = \"file\" in config.toml"}
	}
	return &Error{Kind: KindKeychain, Msg: doing, Err: err}
}

// rootCause keeps the part of a keychain failure that says why, without the
// layers that restate "no keychain is available".
func rootCause(err error) string {
	s := err.Error()
	const marker = "no keychain is available: "
	if i := strings.LastIndex(s, marker); i >= 0 {
		return s[i+len(marker):]
	}
	return s
}
