package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hfbroker/hfbroker/internal/hubapi"
)

// hubError turns a Hub client error into a broker Error a person can act on.
func hubError(err error, endpoint, waitHint string) error {
	switch {
	case errors.Is(err, hubapi.ErrInvalidToken):
		return &Error{Kind: KindHub, Msg: "the Hub rejected the token: Invalid credentials in Authorization header",
			Hint: "check that you copied the whole token, or create a new one at " + endpoint + "/settings/tokens", cause: err}
	case errors.Is(err, hubapi.ErrRateLimited):
		msg := "the Hub rate-limited whoami-v2"
		if rl, ok := errors.AsType[*hubapi.RateLimitError](err); ok && rl.Reset > 0 {
			msg += fmt.Sprintf("; retry in %s", rl.Reset)
		}
		return &Error{Kind: KindHub, Msg: msg, Hint: waitHint, cause: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Kind: KindHub, Msg: "the Hub at " + endpoint + " did not answer in time",
			Hint: "check HF_ENDPOINT and your network, or use --no-verify to store it without checking", cause: err}
	}
	return &Error{Kind: KindHub, Msg: "verify the token with " + endpoint, Err: err,
		Hint: "check HF_ENDPOINT and your network, or use --no-verify to store it without checking"}
}

// hubLimits is the Hub's rate-limit state: per endpoint, the end of the
// window in which whoami-v2 must not be called (the Hub answered 429).
// It has its own mutex: the broker's guards leases, and a whoami never
// waits on them.
type hubLimits struct {
	mu    sync.Mutex
	until map[string]time.Time // endpoint -> no whoami calls before this
}

// wait returns how long the window on endpoint still runs at now; zero
// when there is none.
func (h *hubLimits) wait(endpoint string, now time.Time) time.Duration {
	h.mu.Lock()
	until := h.until[endpoint]
	h.mu.Unlock()
	if now.Before(until) {
		return until.Sub(now)
	}
	return 0
}

// note starts a window on endpoint at now when err is the Hub's 429: until
// its RateLimit header says the window resets, or 5 minutes (the Hub's
// windows) when it did not say.
func (h *hubLimits) note(endpoint string, now time.Time, err error) {
	rl, ok := errors.AsType[*hubapi.RateLimitError](err)
	if !ok {
		return
	}
	wait := rl.Reset
	if wait <= 0 {
		wait = 5 * time.Minute
	}
	h.mu.Lock()
	if h.until == nil {
		h.until = map[string]time.Time{}
	}
	h.until[endpoint] = now.Add(wait)
	h.mu.Unlock()
}

// hubWaiting refuses to call whoami-v2 on an endpoint inside a 429 window.
func (b *Broker) hubWaiting(endpoint, hint string) error {
	if left := b.hubWait.wait(endpoint, b.now()); left > 0 {
		return &Error{Kind: KindHub, Msg: fmt.Sprintf("the Hub rate-limited whoami-v2; not asking again for %s", left.Round(time.Second)), Hint: hint, cause: hubapi.ErrRateLimited}
	}
	return nil
}

// noteRateLimit starts a 429 window: no whoami-v2 calls to the endpoint
// until the Hub's RateLimit header says the window resets.
func (b *Broker) noteRateLimit(endpoint string, err error) {
	b.hubWait.note(endpoint, b.now(), err)
}
