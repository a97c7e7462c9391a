package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hfbroker/hfbroker/internal/config"
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

// loginWebRun starts the device flow in the daemon, shows the code, and polls
// until the person approved it; the daemon then stores both tokens. The
// daemon runs the device flow (the CLI links no HTTP client) and keeps the
// device code; the CLI shows the code and polls.
func loginWebRun(ctx context.Context, opts *LoginOptions) error {
	after := opts.After
	if after == nil {
		after = time.After
	}
	endpoint, err := opts.Endpoint()
	if err != nil {
		return err
	}
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	out, errOut := opts.IO.Out, opts.IO.ErrOut
	terminal := opts.Prompter.IsTerminal()
	return withDaemon(ctx, opts.Daemon, func(api Daemon) error {
		if terminal {
			// The tokens need somewhere to go: open the vault first.
			if err := openVaultForLogin(ctx, opts, api); err != nil {
				return err
			}
		}
		dc, err := api.StartWebLogin(ctx, &pb.StartWebLoginRequest{Endpoint: endpoint, ClientId: config.OAuthClientID(opts.Env, cfg)})
		if err != nil {
			return err
		}
		if opts.JSON {
			b, _ := json.Marshal(deviceJSON{dc.GetUserCode(), dc.GetVerificationUri(), dc.GetVerificationUriComplete(), int(dc.GetExpiresIn())})
			fmt.Fprintf(out, "%s\n", b)
		} else {
			fmt.Fprintf(errOut, "First copy your one-time code: %s\n", dc.GetUserCode())
			fmt.Fprintf(errOut, "Then open %s in a browser and approve it.\n", dc.GetVerificationUriComplete())
		}
		if terminal && !opts.JSON {
			openBrowser(opts.Env, dc.GetVerificationUriComplete())
		}
		interval := time.Duration(max(dc.GetInterval(), 1)) * time.Second
		spin := []string{"|", "/", "-", "\\"}
		for i := 0; ; i++ {
			if terminal && !opts.JSON {
				fmt.Fprintf(errOut, "\r%s Waiting for approval in the browser…", spin[i%len(spin)])
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-after(interval):
			}
			resp, err := api.PollWebLogin(ctx, &pb.PollWebLoginRequest{LoginId: dc.GetLoginId(), Name: opts.Name, MakeDefault: opts.MakeDefault})
			if err != nil {
				if terminal && !opts.JSON {
					fmt.Fprintln(errOut)
				}
				return err
			}
			switch resp.GetState() {
			case pb.PollWebLoginResponse_STATE_SLOW_DOWN:
				interval += 5 * time.Second
			case pb.PollWebLoginResponse_STATE_DONE:
				if terminal && !opts.JSON {
					fmt.Fprint(errOut, "\r\033[K")
				}
				return printWebLogin(out, opts, resp.GetStored())
			}
		}
	})
}

// printWebLogin says which profile the browser login was stored as.
func printWebLogin(out io.Writer, opts *LoginOptions, resp *pb.AddTokenResponse) error {
	p := resp.GetProfile()
	if opts.JSON {
		lj := loginJSON{Profile: p.GetName(), User: p.GetUser(), Replaced: resp.GetReplaced()}
		if p.GetExpiresAt() != nil {
			lj.ExpiresAt = p.GetExpiresAt().AsTime()
		}
		b, _ := json.Marshal(lj)
		_, err := fmt.Fprintf(out, "%s\n", b)
		return err
	}
	verb := "Stored"
	if resp.GetReplaced() {
		verb = "Replaced"
	}
	def := ""
	if p.GetDefault() {
		def = ", default"
	}
	_, err := fmt.Fprintf(out, "%s profile %q (user %s, browser login%s; refreshed by hfbrokerd%s)\n", verb, p.GetName(), p.GetUser(),
		expiryText(p.GetExpiresAt()), def)
	return err
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
