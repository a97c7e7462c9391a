package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hfbroker/hfbroker/internal/config"
)

// UnlockOptions are unlock's inputs.
type UnlockOptions struct {
	IO     *IOStreams
	Daemon DaemonFunc
	// Prompter asks for the passphrase when no file gives it.
	Prompter Prompter
	// Env is the environment: HFBROKER_PASSPHRASE_FILE.
	Env            config.Env
	PassphraseFile string
	AllowShort     bool
}

func newCmdUnlock(f *Factory, runF func(*UnlockOptions) error) *cobra.Command {
	opts := &UnlockOptions{IO: f.IO, Daemon: f.Daemon, Prompter: f.Prompter(), Env: f.Env}
	cmd := &cobra.Command{
		Use:   "unlock [--passphrase-file FILE] [--allow-short]",
		Short: "Open the encrypted file vault, or create it",
		Long: `Open the encrypted file vault (backend "file") with its passphrase, read from a
prompt that does not echo, or from --passphrase-file / HFBROKER_PASSPHRASE_FILE
for automation (refused unless it is yours and only you can read and write it,
as ssh requires of a private key).

When there is no vault yet, unlock creates it: on a terminal it asks for the
new passphrase twice, and refuses one shorter than 8 characters unless
--allow-short is given.`,
		Example: `  hfbroker unlock
  hfbroker unlock --passphrase-file ~/.config/hfbroker/passphrase`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return unlockRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.PassphraseFile, "passphrase-file", "", "read the passphrase from this file (yours, mode 0600 or stricter)")
	cmd.Flags().BoolVar(&opts.AllowShort, "allow-short", false, "accept a new vault passphrase shorter than 8 characters")
	return cmd
}

func unlockRun(ctx context.Context, opts *UnlockOptions) error {
	file := passphraseFile(opts.PassphraseFile, opts.Env)
	return withDaemon(ctx, opts.Daemon, func(c Daemon) error {
		resp, err := openVault(ctx, opts.Prompter, opts.IO.ErrOut, c, file, opts.AllowShort)
		if err != nil {
			return err
		}
		if resp.GetCreated() {
			fmt.Fprintf(opts.IO.Out, "Created a new vault at %s; it is unlocked\n", resp.GetVaultPath())
			return nil
		}
		fmt.Fprintln(opts.IO.Out, "Unlocked")
		return nil
	})
}
