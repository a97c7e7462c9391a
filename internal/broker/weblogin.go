package broker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hfbroker/hfbroker/internal/hubapi"
	"github.com/hfbroker/hfbroker/internal/hubapi/oauthtoken"
)

// Issue 14: `hfbroker login --web`. The daemon runs the Hub's OAuth device
// flow (RFC 8628) for the CLI, which links no HTTP client: it asks for a
// code (StartWebLogin), and the CLI polls (PollWebLogin) until the person
// has approved it in a browser; then both tokens go straight into the store.
// The device code never leaves the daemon.

// DeviceLogin runs the Hub's device flow (hub.Client does).
type DeviceLogin interface {
	StartDevice(ctx context.Context, endpoint, clientID string) (*hubapi.DeviceCode, error)
	PollDevice(ctx context.Context, endpoint, clientID, deviceCode string, now time.Time) (*oauthtoken.Token, error)
}

// WebLogin is a started browser login, as the person sees it.
type WebLogin struct {
	ID                      string
	UserCode                string
	VerificationURI         string
	VerificationURIComplete string
	Interval                time.Duration
	ExpiresIn               time.Duration
}

// WebLoginState is where a browser login stands.
type WebLoginState int

const (
	WebLoginPending WebLoginState = iota + 1
	WebLoginSlowDown
	WebLoginDone
)

// maxWebLogins bounds the browser logins waiting at once.
const maxWebLogins = 16

type webLogin struct {
	endpoint, clientID, deviceCode string
	expires                        time.Time
}

type webLogins struct {
	mu sync.Mutex
	m  map[string]*webLogin
}

func (b *Broker) deviceLogin() (DeviceLogin, error) {
	if b.opts.Hub == nil {
		return nil, errorf(KindHub, "", "no Hub client configured")
	}
	d, ok := b.opts.Hub.(DeviceLogin)
	if !ok {
		return nil, errorf(KindHub, "", "this daemon's Hub client cannot run a browser login")
	}
	return d, nil
}

// StartWebLogin asks the Hub for a device code.
func (b *Broker) StartWebLogin(ctx context.Context, endpoint, clientID string) (WebLogin, error) {
	d, err := b.deviceLogin()
	if err != nil {
		return WebLogin{}, err
	}
	clientID = hubapi.OAuthClientID(clientID, b.opts.OAuthClientID)
	dc, err := d.StartDevice(ctx, endpoint, clientID)
	if err != nil {
		return WebLogin{}, &Error{Kind: KindHub, Msg: "start the browser login at " + endpoint, Err: err,
			Hint: "check HF_ENDPOINT and your network, or log in with a token: hfbroker login"}
	}
	now := b.now()
	w := &webLogin{endpoint: endpoint, clientID: clientID, deviceCode: dc.DeviceCode,
		expires: now.Add(time.Duration(dc.ExpiresIn) * time.Second)}
	id := newID("w-")
	b.web.mu.Lock()
	if b.web.m == nil {
		b.web.m = map[string]*webLogin{}
	}
	for k, v := range b.web.m {
		if !now.Before(v.expires) {
			delete(b.web.m, k)
		}
	}
	if len(b.web.m) >= maxWebLogins {
		b.web.mu.Unlock()
		return WebLogin{}, errorf(KindInvalid, "finish or wait out the other browser logins", "%d browser logins are already waiting", maxWebLogins)
	}
	b.web.m[id] = w
	b.web.mu.Unlock()
	return WebLogin{ID: id, UserCode: dc.UserCode, VerificationURI: dc.VerificationURI,
		VerificationURIComplete: dc.VerificationURIComplete, Interval: time.Duration(dc.Interval) * time.Second,
		ExpiresIn: time.Duration(dc.ExpiresIn) * time.Second}, nil
}

// PollWebLogin asks the Hub once whether the login was approved; once it
// was, it stores the profile as AddToken does (whoami, name oauth-USER).
func (b *Broker) PollWebLogin(ctx context.Context, id, name string, makeDefault bool, caller Caller) (WebLoginState, Profile, bool, error) {
	d, err := b.deviceLogin()
	if err != nil {
		return 0, Profile{}, false, err
	}
	if name != "" {
		if err := CheckName(name); err != nil {
			return 0, Profile{}, false, err
		}
	}
	b.web.mu.Lock()
	w, ok := b.web.m[id]
	b.web.mu.Unlock()
	const again = "run 'hfbroker login --web' again"
	if !ok {
		return 0, Profile{}, false, errorf(KindNotFound, again, "no browser login %q is waiting (it expired, or the daemon restarted)", id)
	}
	now := b.now()
	if !now.Before(w.expires) {
		b.endWebLogin(id)
		return 0, Profile{}, false, errorf(KindInvalid, again, "the login code expired before it was approved")
	}
	tok, err := d.PollDevice(ctx, w.endpoint, w.clientID, w.deviceCode, now)
	var oe *hubapi.OAuthError
	switch {
	case err == nil:
	case errors.As(err, &oe) && oe.Code == hubapi.OAuthPending:
		return WebLoginPending, Profile{}, false, nil
	case errors.As(err, &oe) && oe.Code == hubapi.OAuthSlowDown:
		return WebLoginSlowDown, Profile{}, false, nil
	case errors.Is(err, hubapi.ErrOAuthTransient):
		// A 5xx or a gateway page: keep polling until the code expires.
		return WebLoginPending, Profile{}, false, nil
	case errors.As(err, &oe) && oe.Code == hubapi.OAuthAccessDenied:
		b.endWebLogin(id)
		return 0, Profile{}, false, errorf(KindAccessDenied, "run 'hfbroker login --web' again and approve the code", "the browser login was denied")
	case errors.As(err, &oe) && oe.Code == hubapi.OAuthExpiredToken:
		b.endWebLogin(id)
		return 0, Profile{}, false, errorf(KindInvalid, again, "the login code expired before it was approved")
	default:
		b.endWebLogin(id)
		return 0, Profile{}, false, &Error{Kind: KindHub, Msg: "the Hub refused the browser login", Err: err,
			Hint: "run 'hfbroker login --web' again, or log in with a token: hfbroker login"}
	}
	b.endWebLogin(id)
	p, replaced, err := b.AddToken(ctx, AddRequest{Name: name, Token: tok.Access, Endpoint: w.endpoint, MakeDefault: makeDefault,
		Caller: caller, Refresh: tok.Refresh, ExpiresAt: tok.ExpiresAt, ClientID: w.clientID})
	if err != nil {
		return 0, Profile{}, false, err
	}
	return WebLoginDone, p, replaced, nil
}

func (b *Broker) endWebLogin(id string) {
	b.web.mu.Lock()
	delete(b.web.m, id)
	b.web.mu.Unlock()
}
