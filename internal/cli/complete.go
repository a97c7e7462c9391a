package cli

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// Shell completion of the names only the daemon knows: profiles (switch,
// logout, whoami, --profile) and lease ids (leases revoke). Each asks the
// daemon when the shell asks, never at start-up; a daemon that does not
// answer completes nothing rather than printing an error into the prompt.

// completionTimeout bounds a TAB: the shell waits for it.
const completionTimeout = 2 * time.Second

// completeProfiles completes profile names.
func completeProfiles(f *Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return askDaemon(cmd, f, toComplete, func(ctx context.Context, c Daemon) ([]cobra.Completion, error) {
			resp, err := c.ListProfiles(ctx, &pb.ListProfilesRequest{})
			if err != nil {
				return nil, err
			}
			var out []cobra.Completion
			for _, p := range resp.GetProfiles() {
				desc := p.GetUser()
				if r := p.GetTokenRole(); r != "" {
					desc += ", " + roleText(r)
				}
				out = append(out, cobra.CompletionWithDesc(p.GetName(), desc))
			}
			return out, nil
		})
	}
}

// completeLeases completes live lease ids, described by profile and purpose.
func completeLeases(f *Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return askDaemon(cmd, f, toComplete, func(ctx context.Context, c Daemon) ([]cobra.Completion, error) {
			resp, err := c.ListLeases(ctx, &pb.ListLeasesRequest{})
			if err != nil {
				return nil, err
			}
			var out []cobra.Completion
			for _, l := range resp.GetLeases() {
				desc := l.GetProfile()
				if p := l.GetPurpose(); p != pb.Purpose_PURPOSE_UNSPECIFIED {
					desc += ", " + strings.ToLower(strings.TrimPrefix(p.String(), "PURPOSE_"))
				}
				out = append(out, cobra.CompletionWithDesc(l.GetId(), desc))
			}
			return out, nil
		})
	}
}

// completeOneArg limits a completion to the first positional argument.
func completeOneArg(fn cobra.CompletionFunc) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return fn(cmd, args, toComplete)
	}
}

func askDaemon(cmd *cobra.Command, f *Factory, toComplete string, list func(context.Context, Daemon) ([]cobra.Completion, error)) ([]cobra.Completion, cobra.ShellCompDirective) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	var all []cobra.Completion
	err := withDaemon(ctx, f.Daemon, func(c Daemon) error {
		var err error
		all, err = list(ctx, c)
		return err
	})
	if err != nil {
		cobra.CompDebugln("hfbroker: completion: "+oneLine(err.Error()), true)
		return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
	}
	var out []cobra.Completion
	for _, c := range all {
		if strings.HasPrefix(c, toComplete) {
			out = append(out, c)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
