package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// ListOptions are list's inputs.
type ListOptions struct {
	IO     *IOStreams
	Daemon DaemonFunc
	JSON   bool
}

func newCmdList(f *Factory, runF func(*ListOptions) error) *cobra.Command {
	opts := &ListOptions{IO: f.IO, Daemon: f.Daemon}
	cmd := &cobra.Command{
		Use:     "list [--json]",
		Aliases: []string{"ls"},
		Short:   "List stored profiles (never their tokens)",
		Example: `  hfbroker list
  hfbroker list --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return listRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// profileJSON is list --json's shape.
type profileJSON struct {
	Name        string     `json:"name"`
	Default     bool       `json:"default"`
	User        string     `json:"user,omitempty"`
	TokenRole   string     `json:"token_role,omitempty"`
	DisplayName string     `json:"display_name,omitempty"`
	Fingerprint string     `json:"fingerprint"`
	Endpoint    string     `json:"endpoint"`
	AddedAt     time.Time  `json:"added_at"`
	VerifiedAt  *time.Time `json:"verified_at,omitempty"`
	// Issue 14: OAuth profiles and expiring tokens.
	OAuth      bool       `json:"oauth,omitempty"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	NeedsLogin bool       `json:"needs_login,omitempty"`
}

func listRun(ctx context.Context, opts *ListOptions) error {
	return withDaemon(ctx, opts.Daemon, func(c Daemon) error {
		resp, err := c.ListProfiles(ctx, &pb.ListProfilesRequest{})
		if err != nil {
			return err
		}
		out := opts.IO.Out
		if opts.JSON {
			list := make([]profileJSON, 0, len(resp.GetProfiles()))
			for _, p := range resp.GetProfiles() {
				j := profileJSON{Name: p.GetName(), Default: p.GetDefault(), User: p.GetUser(), TokenRole: p.GetTokenRole(),
					DisplayName: p.GetDisplayName(), Fingerprint: p.GetFingerprint(), Endpoint: p.GetEndpoint(), AddedAt: p.GetAddedAt().AsTime()}
				if p.GetVerifiedAt() != nil {
					t := p.GetVerifiedAt().AsTime()
					j.VerifiedAt = &t
				}
				j.OAuth, j.NeedsLogin = p.GetOauth(), p.GetNeedsLogin()
				if p.GetExpiresAt() != nil {
					t := p.GetExpiresAt().AsTime()
					j.ExpiresAt = &t
				}
				list = append(list, j)
			}
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			return enc.Encode(list)
		}
		if len(resp.GetProfiles()) == 0 {
			fmt.Fprintln(opts.IO.ErrOut, "No profiles. Run 'hfbroker login' to store a token.")
			return nil
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		// An EXPIRES column only when a token expires (issue 14).
		expiring := slices.ContainsFunc(resp.GetProfiles(), func(p *pb.Profile) bool { return p.GetExpiresAt() != nil || p.GetNeedsLogin() })
		header := "DEFAULT\tNAME\tUSER\tROLE\tFINGERPRINT\tENDPOINT"
		if expiring {
			header += "\tEXPIRES"
		}
		fmt.Fprintln(tw, header)
		for _, p := range resp.GetProfiles() {
			mark := ""
			if p.GetDefault() {
				mark = "*"
			}
			role := roleText(p.GetTokenRole())
			if p.GetOauth() {
				role = "oauth"
			}
			line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", mark, p.GetName(), dash(p.GetUser()), dash(role), p.GetFingerprint(), p.GetEndpoint())
			if expiring {
				line += "\t" + profileExpiry(p)
			}
			fmt.Fprintln(tw, line)
		}
		return tw.Flush()
	})
}

// profileExpiry says when a profile's token expires and whether the daemon
// can refresh it: "expires 2026-09-01 12:00 UTC (refreshed)".
func profileExpiry(p *pb.Profile) string {
	switch {
	case p.GetNeedsLogin():
		return "refresh refused: run 'hfbroker login --web --name " + p.GetName() + "'"
	case p.GetExpiresAt() == nil:
		return "-"
	}
	s := "expires " + p.GetExpiresAt().AsTime().UTC().Format("2006-01-02 15:04 UTC")
	if p.GetOauth() {
		s += " (refreshed by hfbrokerd)"
	}
	return s
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// LogoutOptions are logout's inputs.
type LogoutOptions struct {
	IO     *IOStreams
	Daemon DaemonFunc
	Name   string
}

func newCmdLogout(f *Factory, runF func(*LogoutOptions) error) *cobra.Command {
	opts := &LogoutOptions{IO: f.IO, Daemon: f.Daemon}
	return &cobra.Command{
		Use:               "logout NAME",
		Short:             "Remove a profile and its token, ending its leases",
		Example:           "  hfbroker logout acme-ci",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeOneArg(completeProfiles(f)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if err := checkProfileArg(opts.Name); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return logoutRun(cmd.Context(), opts)
		},
	}
}

func logoutRun(ctx context.Context, opts *LogoutOptions) error {
	return withDaemon(ctx, opts.Daemon, func(c Daemon) error {
		resp, err := c.RemoveToken(ctx, &pb.RemoveTokenRequest{Name: opts.Name})
		if err != nil {
			return err
		}
		fmt.Fprintf(opts.IO.Out, "Removed profile %q", opts.Name)
		if n := resp.GetEndedLeases(); n > 0 {
			fmt.Fprintf(opts.IO.Out, " and ended %d lease(s)", n)
		}
		fmt.Fprintln(opts.IO.Out)
		return nil
	})
}

// SwitchOptions are switch's inputs.
type SwitchOptions struct {
	IO     *IOStreams
	Daemon DaemonFunc
	Name   string
}

func newCmdSwitch(f *Factory, runF func(*SwitchOptions) error) *cobra.Command {
	opts := &SwitchOptions{IO: f.IO, Daemon: f.Daemon}
	return &cobra.Command{
		Use:               "switch NAME",
		Short:             "Make a profile the default",
		Example:           "  hfbroker switch acme-ci",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeOneArg(completeProfiles(f)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if err := checkProfileArg(opts.Name); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return switchRun(cmd.Context(), opts)
		},
	}
}

func switchRun(ctx context.Context, opts *SwitchOptions) error {
	return withDaemon(ctx, opts.Daemon, func(c Daemon) error {
		resp, err := c.SetDefault(ctx, &pb.SetDefaultRequest{Name: opts.Name})
		if err != nil {
			return err
		}
		fmt.Fprintf(opts.IO.Out, "Default profile is now %q\n", resp.GetProfile().GetName())
		return nil
	})
}

// roleText is a token role as people write it: the Hub's "fineGrained" is
// "fine-grained" (JSON output keeps the Hub's spelling).
func roleText(role string) string {
	if role == "fineGrained" {
		return "fine-grained"
	}
	return role
}
