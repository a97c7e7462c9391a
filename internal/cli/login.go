package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hfbroker/hfbroker/internal/config"
	"github.com/hfbroker/hfbroker/internal/secret"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// LoginOptions are login's inputs.
type LoginOptions struct {
	IO     *IOStreams
	Daemon DaemonFunc
	// Prompter asks for the token and the vault's passphrase on a
	// terminal.
	Prompter Prompter
	// Endpoint resolves the Hub endpoint; Config loads config.toml (the
	// OAuth client of a web login); Env is the environment (the OAuth
	// client, the browser).
	Endpoint    func() (string, error)
	Config      func() (*config.Config, error)
	Env         config.Env
	Name        string
	MakeDefault bool
	NoVerify    bool
	// Web logs in through the browser (OAuth device flow); JSON prints its
	// code and URL as JSON for scripts (loginweb.go).
	Web  bool
	JSON bool
	// After is time.After, the wait between polls of a web login; nil
	// means time.After (tests pass a faster one).
	After func(time.Duration) <-chan time.Time
}

// maxTokenInput bounds what login reads from stdin: far above any token, far
// below anything that could hurt.
const maxTokenInput = 64 << 10

func newCmdLogin(f *Factory, runF func(*LoginOptions) error) *cobra.Command {
	opts := &LoginOptions{IO: f.IO, Daemon: f.Daemon, Prompter: f.Prompter(), Endpoint: f.Endpoint, Config: f.Config, Env: f.Env}
	cmd := &cobra.Command{
		Use:   "login [--web [--json]] [--name NAME] [--default] [--no-verify]",
		Short: "Store a Hugging Face token in the keychain",
		Long: `Store a Hugging Face token in the keychain, under a profile name.

The token is read from a prompt that does not echo, or from standard input
when it is not a terminal:

  hfbroker login
  hfbroker login --name acme-ci < token.txt

Where there is no keychain (a server reached over SSH), tokens go to an
encrypted file vault. On a terminal, login creates that vault (asking for its
new passphrase twice) or unlocks it first; piped, a locked vault is an error:
run 'hfbroker unlock' first.

With --web, login goes through your browser instead (the Hub's device login,
as 'hf auth login' does): it prints a code and a URL, and waits for you to
approve. The daemon keeps the access token and its refresh token in the
keychain and refreshes it itself; the profile is named oauth-USER unless
--name says otherwise. --json prints the code and URL as one JSON object.

A token given as an argument is refused: it would be visible in ps and kept
in your shell history.`,
		Example: `  hfbroker login
  hfbroker login --name acme-ci < token.txt
  hfbroker login --web`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				// Never echo args[0]: it may be the token itself.
				return errorWithHint(ExitUsage, "run 'hfbroker login' and paste the token at the prompt, or pipe it: hfbroker login < token.txt",
					"login takes no arguments: a token on the command line would be visible in ps and your shell history")
			}
			if err := checkNameIsNoToken(opts.Name); err != nil {
				return err
			}
			if opts.JSON && !opts.Web {
				return &UsageError{errors.New("--json goes with --web")}
			}
			if opts.Web && opts.NoVerify {
				return &UsageError{errors.New("--no-verify does not go with --web")}
			}
			if runF != nil {
				return runF(opts)
			}
			if opts.Web {
				return loginWebRun(cmd.Context(), opts)
			}
			return loginRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Name, "name", "", "profile name (default: the token's name on the Hub, else \"default\")")
	cmd.Flags().BoolVar(&opts.MakeDefault, "default", false, "make this the default profile")
	cmd.Flags().BoolVar(&opts.NoVerify, "no-verify", false, "store without asking the Hub whether the token works")
	cmd.Flags().BoolVar(&opts.Web, "web", false, "log in through your browser (OAuth device login)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "with --web: print the code and URL as JSON")
	return cmd
}

// loginRun stores a token. Piped, it reads and checks the token before
// asking the daemon anything, and a locked vault is an error (exit 4) with
// its hint: a script must not hang on a prompt. On a terminal it first makes
// sure the token has somewhere to go: an absent vault is created (new
// passphrase, twice) and a locked one unlocked, inline, so that `hfbroker
// login` alone goes from install to a stored token, as `gh auth login` does.
func loginRun(ctx context.Context, opts *LoginOptions) error {
	terminal := opts.Prompter.IsTerminal()
	var tok secret.Token
	if !terminal {
		t, err := readCheckedToken(opts)
		if err != nil {
			return err
		}
		tok = t
	}
	endpoint, err := opts.Endpoint()
	if err != nil {
		return err
	}
	return withDaemon(ctx, opts.Daemon, func(api Daemon) error {
		if terminal {
			if err := openVaultForLogin(ctx, opts, api); err != nil {
				return err
			}
			t, err := readCheckedToken(opts)
			if err != nil {
				return err
			}
			tok = t
		}
		resp, err := api.AddToken(ctx, &pb.AddTokenRequest{
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

// openVaultForLogin opens a locked file vault on a terminal before login asks
// for the token; with any other backend, or an open vault, it does nothing.
func openVaultForLogin(ctx context.Context, opts *LoginOptions, api Daemon) error {
	st, err := api.Status(ctx, &pb.StatusRequest{})
	if err != nil {
		return err
	}
	if st.GetBackend() != "file" || !st.GetLocked() {
		return nil
	}
	if st.GetVaultExists() {
		fmt.Fprintf(opts.IO.ErrOut, "Your tokens are in an encrypted vault at %s; it is locked.\n", st.GetVaultPath())
	} else if why, ok := strings.CutPrefix(st.GetBackendReason(), "auto: "); ok && why != "" {
		fmt.Fprintf(opts.IO.ErrOut, "%s%s, so hfbroker keeps tokens in an encrypted vault.\n", strings.ToUpper(why[:1]), why[1:])
	}
	resp, err := openVaultAs(ctx, opts.Prompter, opts.IO.ErrOut, api, st, "", false)
	if err != nil {
		return err
	}
	if resp.GetCreated() {
		fmt.Fprintf(opts.IO.ErrOut, "Created a new vault at %s; 'hfbroker unlock' opens it after a restart.\n", resp.GetVaultPath())
	}
	return nil
}

// readCheckedToken reads the token and checks its shape.
func readCheckedToken(opts *LoginOptions) (secret.Token, error) {
	tok, err := readToken(opts.IO, opts.Prompter)
	if err != nil {
		return "", err
	}
	if err := secret.Check(tok.Reveal()); err != nil {
		hint := "paste the whole token from your Hub settings (it starts with hf_)"
		if errors.Is(err, secret.ErrOrgToken) {
			hint = "create a personal access token in your Hub settings"
		}
		return "", errorWithHint(ExitError, hint, "%v", err)
	}
	return tok, nil
}

// readToken reads a token from a no-echo prompt, or from stdin when it is not
// a terminal. One trailing newline (from echo or a file) is dropped; anything
// else is the caller's to validate.
func readToken(s *IOStreams, p Prompter) (secret.Token, error) {
	var raw []byte
	if p.IsTerminal() {
		b, err := p.Secret("Paste your Hugging Face token (input is hidden): ")
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
