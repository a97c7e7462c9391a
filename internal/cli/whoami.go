package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// WhoamiOptions are whoami's inputs.
type WhoamiOptions struct {
	IO      *IOStreams
	Daemon  DaemonFunc
	Profile string
	Refresh bool
	JSON    bool
}

func newCmdWhoami(f *Factory, runF func(*WhoamiOptions) error) *cobra.Command {
	opts := &WhoamiOptions{IO: f.IO, Daemon: f.Daemon}
	cmd := &cobra.Command{
		Use:   "whoami [NAME] [--refresh] [--json]",
		Short: "Show who a profile's token belongs to and what it may do",
		Example: `  hfbroker whoami
  hfbroker whoami acme-ci --refresh
  hfbroker whoami --json`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeOneArg(completeProfiles(f)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Profile = args[0]
				if err := checkProfileArg(opts.Profile); err != nil {
					return err
				}
			}
			if runF != nil {
				return runF(opts)
			}
			return whoamiRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Refresh, "refresh", false, "ask the Hub again instead of using the cached answer")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

type whoamiJSON struct {
	Profile           string      `json:"profile"`
	User              string      `json:"user"`
	Fullname          string      `json:"fullname,omitempty"`
	Endpoint          string      `json:"endpoint"`
	TokenName         string      `json:"token_name,omitempty"`
	TokenRole         string      `json:"token_role,omitempty"`
	Fingerprint       string      `json:"fingerprint"`
	Orgs              []orgJSON   `json:"orgs"`
	Scopes            []scopeJSON `json:"scopes,omitempty"`
	GlobalPermissions []string    `json:"global_permissions,omitempty"`
	CanReadGatedRepos bool        `json:"can_read_gated_repos,omitempty"`
	ExpiresAt         *time.Time  `json:"expires_at,omitempty"`
	FetchedAt         *time.Time  `json:"fetched_at,omitempty"`
}

type orgJSON struct {
	Name                 string   `json:"name"`
	Role                 string   `json:"role"`
	SecurityRestrictions []string `json:"security_restrictions,omitempty"`
}

type scopeJSON struct {
	EntityType  string   `json:"entity_type"`
	EntityName  string   `json:"entity_name"`
	Permissions []string `json:"permissions"`
}

func whoamiRun(ctx context.Context, opts *WhoamiOptions) error {
	return withDaemon(ctx, opts.Daemon, func(c Daemon) error {
		w, err := c.Whoami(ctx, &pb.WhoamiRequest{Profile: opts.Profile, Refresh: opts.Refresh})
		if err != nil {
			return err
		}
		out := opts.IO.Out
		if opts.JSON {
			j := whoamiToJSON(w)
			if w.GetFetchedAt() != nil {
				t := w.GetFetchedAt().AsTime()
				j.FetchedAt = &t
			}
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			return enc.Encode(j)
		}
		p := w.GetProfile()
		if w.GetUser() == "" {
			fmt.Fprintf(out, "profile %s: not verified with the Hub (run 'hfbroker whoami --refresh %s')\n", p.GetName(), p.GetName())
			return nil
		}
		name := w.GetUser()
		if w.GetFullname() != "" {
			name += " (" + w.GetFullname() + ")"
		}
		fmt.Fprintf(out, "user:     %s\n", name)
		fmt.Fprintf(out, "profile:  %s (fingerprint %s) on %s\n", p.GetName(), p.GetFingerprint(), p.GetEndpoint())
		fmt.Fprintf(out, "token:    %s, role %s\n", dash(w.GetTokenDisplayName()), dash(roleText(w.GetTokenRole())))
		for _, s := range w.GetScopes() {
			fmt.Fprintf(out, "scope:    %s %s: %s\n", s.GetEntityType(), s.GetEntityName(), strings.Join(s.GetPermissions(), ", "))
		}
		if g := w.GetGlobalPermissions(); len(g) > 0 {
			fmt.Fprintf(out, "global:   %s\n", strings.Join(g, ", "))
		}
		if w.GetCanReadGatedRepos() {
			fmt.Fprintln(out, "gated:    can read public gated repos you were granted")
		}
		for _, o := range w.GetOrgs() {
			line := fmt.Sprintf("org:      %s, role %s", o.GetName(), dash(o.GetRole()))
			if r := o.GetSecurityRestrictions(); len(r) > 0 {
				line += " (restricted: " + strings.Join(r, ", ") + ")"
			}
			fmt.Fprintln(out, line)
		}
		if p.GetExpiresAt() != nil || p.GetNeedsLogin() {
			fmt.Fprintf(out, "expires:  %s\n", strings.TrimPrefix(profileExpiry(p), "expires "))
		} else if w.GetExpiresAt() != nil {
			fmt.Fprintf(out, "expires:  %s\n", w.GetExpiresAt().AsTime().Format(time.RFC3339))
		}
		if w.GetFetchedAt() != nil {
			fmt.Fprintf(out, "checked:  %s\n", w.GetFetchedAt().AsTime().Local().Format(time.RFC3339))
		}
		return nil
	})
}
