package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// TokenOptions are token's inputs.
type TokenOptions struct {
	IO     *IOStreams
	Daemon DaemonFunc
	// Endpoint resolves the Hub endpoint (HF_ENDPOINT, config.toml).
	Endpoint func() (string, error)
	Choice   choiceFlags
}

func newCmdToken(f *Factory, runF func(*TokenOptions) error) *cobra.Command {
	opts := &TokenOptions{IO: f.IO, Daemon: f.Daemon, Endpoint: f.Endpoint}
	cmd := &cobra.Command{
		Use:   "token [--profile NAME | --repo [TYPE/]NS/NAME... [--write] [--write-repo R...]]",
		Short: "Print a token (the only command that prints one)",
		Long: `Print a token on standard output: the named profile's, the one chosen for a repo,
or the default profile's. This is the only hfbroker command that prints a token.`,
		Example: `  hfbroker token
  hfbroker token --repo acme/llm --write
  HF_TOKEN=$(hfbroker token --profile acme-ci) hf download acme/llm`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return tokenRun(cmd.Context(), opts)
		},
	}
	opts.Choice.register(cmd, f)
	return cmd
}

func tokenRun(ctx context.Context, opts *TokenOptions) error {
	req, err := opts.Choice.leaseRequest(opts.Endpoint, pb.Purpose_PURPOSE_TOKEN)
	if err != nil {
		return err
	}
	return withDaemon(ctx, opts.Daemon, func(c Daemon) error {
		resp, err := c.Lease(ctx, req)
		if err != nil {
			return err
		}
		if resp.GetShortenedToToken() {
			fmt.Fprintln(opts.IO.ErrOut, shortenedNote(resp))
		}
		_, err = fmt.Fprintln(opts.IO.Out, resp.GetToken())
		return err
	})
}
