package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hfbroker/hfbroker/internal/client"
	"github.com/hfbroker/hfbroker/internal/config"
	"github.com/hfbroker/hfbroker/internal/hub"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// Issue 14: `hfbroker login --web` logs in through the Hub's OAuth device
// flow (RFC 8628), as huggingface_hub's `hf auth login` does, but the access
// and refresh tokens go straight to the daemon, which keeps them in the token
// store and alone refreshes them. Nothing is written in clear.

// deviceJSON is what --json prints first, for scripts and agents.
type deviceJSON struct {
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"`
}

// loginJSON is what --json prints once the profile is stored.
type loginJSON struct {
	Profile   string    `json:"profile"`
	User      string    `json:"user"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	Replaced  bool      `json:"replaced"`
}

// deviceHub is the part of the Hub client the device flow uses.
type deviceHub interface {
	StartDevice(ctx context.Context, endpoint, clientID string) (*hub.DeviceCode, error)
	PollDevice(ctx context.Context, endpoint, clientID, deviceCode string, now time.Time) (*hub.OAuthToken, error)
}

func loginWebRun(ctx context.Context, opts *LoginOptions) error {
	return runLoginWeb(ctx, opts, hub.New(), time.After, func(fn func(loginAPI) error) error {
		return withClient(ctx, opts.Factory, func(c *client.Client) error { return fn(c) })
	})
}

// runLoginWeb runs the device flow, then hands both tokens to the daemon.
// after is time.After (tests pass a faster one).
func runLoginWeb(ctx context.Context, opts *LoginOptions, h deviceHub, after func(time.Duration) <-chan time.Time,
	connect func(fn func(loginAPI) error) error) error {
	endpoint, err := opts.Factory.Endpoint()
	if err != nil {
		return err
	}
	cfg, err := opts.Factory.Config()
	if err != nil {
		return err
	}
	clientID := hub.OAuthClientID(config.OAuthClientID(opts.Factory.Env, cfg), "")
	dc, err := h.StartDevice(ctx, endpoint, clientID)
	if err != nil {
		return errorWithHint(ExitError, "check HF_ENDPOINT and your network, or log in with a token: hfbroker login",
			"start the browser login at %s: %s", endpoint, oneLine(err.Error()))
	}
	out, errOut := opts.IO.Out, opts.IO.ErrOut
	terminal := opts.IO.IsTerminal()
	if opts.JSON {
		b, _ := json.Marshal(deviceJSON{dc.UserCode, dc.VerificationURI, dc.VerificationURIComplete, dc.ExpiresIn})
		fmt.Fprintf(out, "%s\n", b)
	} else {
		fmt.Fprintf(errOut, "First copy your one-time code: %s\n", dc.UserCode)
		fmt.Fprintf(errOut, "Then open %s in a browser and approve it.\n", dc.VerificationURIComplete)
	}
	if terminal && !opts.JSON {
		openBrowser(opts.Factory.Env, dc.VerificationURIComplete)
	}

	interval := time.Duration(dc.Interval) * time.Second
	deadline := time.Now().Add(time.Duration(dc.ExpiresIn) * time.Second)
	spin := []string{"|", "/", "-", "\\"}
	var tok *hub.OAuthToken
	for i := 0; ; i++ {
		if terminal && !opts.JSON {
			fmt.Fprintf(errOut, "\r%s Waiting for approval in the browser…", spin[i%len(spin)])
		}
		t, err := h.PollDevice(ctx, endpoint, clientID, dc.DeviceCode, time.Now())
		if err == nil {
			tok = t
			break
		}
		var oe *hub.OAuthError
		switch {
		case errors.As(err, &oe) && oe.Code == hub.OAuthPending:
		case errors.As(err, &oe) && oe.Code == hub.OAuthSlowDown:
			interval += 5 * time.Second
		case errors.As(err, &oe) && oe.Code == hub.OAuthAccessDenied:
			return errorWithHint(ExitDenied, "run 'hfbroker login --web' again and approve the code", "the browser login was denied")
		case errors.As(err, &oe) && oe.Code == hub.OAuthExpiredToken:
			return errorWithHint(ExitError, "run 'hfbroker login --web' again", "the login code expired before it was approved")
		case errors.As(err, &oe):
			return errorWithHint(ExitError, "run 'hfbroker login --web' again, or log in with a token: hfbroker login",
				"the Hub refused the browser login: %s", oneLine(oe.Error()))
		case errors.Is(err, hub.ErrOAuthTransient):
			// A 5xx or a gateway page: keep polling until the code expires.
		default:
			return fmt.Errorf("browser login: %w", err)
		}
		if time.Now().After(deadline) {
			return errorWithHint(ExitError, "run 'hfbroker login --web' again", "the login code expired before it was approved")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-after(interval):
		}
	}
	if terminal && !opts.JSON {
		fmt.Fprint(errOut, "\r\033[K")
	}
	req := &pb.AddTokenRequest{Name: opts.Name, Token: tok.Access.Reveal(), RefreshToken: tok.Refresh.Reveal(),
		Endpoint: endpoint, MakeDefault: opts.MakeDefault, ClientId: clientID}
	if !tok.ExpiresAt.IsZero() {
		req.ExpiresAt = timestamppb.New(tok.ExpiresAt)
	}
	return connect(func(api loginAPI) error {
		if terminal {
			if err := openVaultForLogin(ctx, opts, api); err != nil {
				return err
			}
		}
		resp, err := api.AddToken(ctx, req)
		if err != nil {
			return err
		}
		p := resp.GetProfile()
		if opts.JSON {
			lj := loginJSON{Profile: p.GetName(), User: p.GetUser(), Replaced: resp.GetReplaced()}
			if p.GetExpiresAt() != nil {
				lj.ExpiresAt = p.GetExpiresAt().AsTime()
			}
			b, _ := json.Marshal(lj)
			fmt.Fprintf(out, "%s\n", b)
			return nil
		}
		verb := "Stored"
		if resp.GetReplaced() {
			verb = "Replaced"
		}
		def := ""
		if p.GetDefault() {
			def = ", default"
		}
		fmt.Fprintf(out, "%s profile %q (user %s, browser login%s; refreshed by hfbrokerd%s)\n", verb, p.GetName(), p.GetUser(),
			expiryText(p.GetExpiresAt()), def)
		return nil
	})
}

// expiryText is ", expires 2026-09-01 12:00 UTC", or "" when it does not.
func expiryText(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return ", expires " + ts.AsTime().UTC().Format("2006-01-02 15:04 UTC")
}

// openBrowser opens url in a browser where one can be opened, as gh does;
// it never fails the login (the URL is printed anyway). BROWSER names the
// program; HFBROKER_NO_BROWSER=1, or no display on Linux, skips it.
func openBrowser(env config.Env, url string) {
	if env("HFBROKER_NO_BROWSER") != "" {
		return
	}
	prog := env("BROWSER")
	switch {
	case prog != "":
	case runtime.GOOS == "darwin":
		prog = "open"
	case runtime.GOOS == "windows":
		return
	case env("DISPLAY") == "" && env("WAYLAND_DISPLAY") == "":
		return
	default:
		prog = "xdg-open"
	}
	path, err := exec.LookPath(prog)
	if err != nil {
		return
	}
	cmd := exec.Command(path, url)
	cmd.Stdout, cmd.Stderr = nil, nil
	if cmd.Start() == nil {
		go cmd.Wait()
	}
}

// shortenedNote says that a lease was cut to its OAuth access token's
// expiry (issue 14): the token handed out stops working then.
func shortenedNote(resp *pb.LeaseResponse) string {
	return fmt.Sprintf("hfbroker: note: the lease ends %s, when profile %s's access token expires (use 'exec --proxy' for longer jobs)",
		resp.GetExpiresAt().AsTime().UTC().Format("2006-01-02 15:04:05 UTC"), resp.GetProfile())
}
