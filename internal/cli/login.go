package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/hfbroker/hfbroker/internal/client"
	"github.com/hfbroker/hfbroker/internal/secret"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// LoginOptions are login's inputs.
type LoginOptions struct {
	IO          *IOStreams
	Factory     *Factory
	Name        string
	MakeDefault bool
	NoVerify    bool
}

// maxTokenInput bounds what login reads from stdin: far above any token, far
// below anything that could hurt.
const maxTokenInput = 64 << 10

func newCmdLogin(f *Factory, runF func(*LoginOptions) error) *cobra.Command {
	opts := &LoginOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		Use:   "login [--name NAME] [--default] [--no-verify]",
		Short: "Store a Hugging Face token in the keychain",
		Long: `Store a Hugging Face token in the keychain, under a profile name.

The token is read from a prompt that does not echo, or from standard input
when it is not a terminal:

  hfbroker login
  hfbroker login --name acme-ci < token.txt

A token given as an argument is refused: it would be visible in ps and kept
in your shell history.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				// Never echo args[0]: it may be the token itself.
				return errorWithHint(ExitUsage, "run 'hfbroker login' and paste the token at the prompt, or pipe it: hfbroker login < token.txt",
					"login takes no arguments: a token on the command line would be visible in ps and your shell history")
			}
			if runF != nil {
				return runF(opts)
			}
			return loginRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Name, "name", "", "profile name (default: the token's name on the Hub, else \"default\")")
	cmd.Flags().BoolVar(&opts.MakeDefault, "default", false, "make this the default profile")
	cmd.Flags().BoolVar(&opts.NoVerify, "no-verify", false, "store without asking the Hub whether the token works")
	return cmd
}

func loginRun(ctx context.Context, opts *LoginOptions) error {
	tok, err := readToken(opts.IO, opts.Factory)
	if err != nil {
		return err
	}
	if err := secret.Check(tok.Reveal()); err != nil {
		hint := "paste the whole token from your Hub settings (it starts with hf_)"
		if errors.Is(err, secret.ErrOrgToken) {
			hint = "create a personal access token in your Hub settings"
		}
		return errorWithHint(ExitError, hint, "%v", err)
	}
	endpoint, err := opts.Factory.Endpoint()
	if err != nil {
		return err
	}
	return withClient(ctx, opts.Factory, func(c *client.Client) error {
		resp, err := c.AddToken(ctx, &pb.AddTokenRequest{
			Name:        opts.Name,
			Token:       tok.Reveal(),
			Endpoint:    endpoint,
			MakeDefault: opts.MakeDefault,
			NoVerify:    opts.NoVerify,
		})
		if err != nil {
			return err
		}
		p := resp.GetProfile()
		verb := "Stored"
		if resp.GetReplaced() {
			verb = "Replaced"
		}
		who := "not verified"
		if p.GetUser() != "" {
			who = fmt.Sprintf("user %s, %s token", p.GetUser(), roleText(p.GetTokenRole()))
		}
		def := ""
		if p.GetDefault() {
			def = ", default"
		}
		fmt.Fprintf(opts.IO.Out, "%s profile %q (%s, fingerprint %s%s)\n", verb, p.GetName(), who, p.GetFingerprint(), def)
		return nil
	})
}

// readToken reads a token from a no-echo prompt, or from stdin when it is not
// a terminal. One trailing newline (from echo or a file) is dropped; anything
// else is the caller's to validate.
func readToken(s *IOStreams, f *Factory) (secret.Token, error) {
	var raw []byte
	if s.IsTerminal() {
		fmt.Fprint(s.ErrOut, "Paste your Hugging Face token (input is hidden): ")
		b, err := f.ReadPassword(s.InFd)
		fmt.Fprintln(s.ErrOut)
		if err != nil {
			return "", fmt.Errorf("read token from terminal: %w", err)
		}
		raw = b
	} else {
		b, err := io.ReadAll(io.LimitReader(s.In, maxTokenInput+1))
		if err != nil {
			return "", fmt.Errorf("read token from standard input: %w", err)
		}
		if len(b) > maxTokenInput {
			return "", errorWithHint(ExitError, "pipe just the token, e.g. hfbroker login < token.txt",
				"standard input is larger than %d KiB: that is not a token", maxTokenInput>>10)
		}
		raw = b
	}
	raw = bytes.TrimSuffix(raw, []byte("\n"))
	raw = bytes.TrimSuffix(raw, []byte("\r"))
	if len(raw) == 0 {
		return "", errorWithHint(ExitError, "pipe the token on standard input or paste it at the prompt", "no token given")
	}
	return secret.Token(raw), nil
}
