package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hfbroker/hfbroker/internal/config"

	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// PasswdOptions are passwd's inputs.
type PasswdOptions struct {
	IO     *IOStreams
	Daemon DaemonFunc
	// Prompter asks for the passphrases no file gives.
	Prompter Prompter
	// Env is the environment: HFBROKER_PASSPHRASE_FILE.
	Env config.Env
	// OldFile and NewFile are --passphrase-file and --new-passphrase-file.
	OldFile    string
	NewFile    string
	AllowShort bool
}

func newCmdPasswd(f *Factory, runF func(*PasswdOptions) error) *cobra.Command {
	opts := &PasswdOptions{IO: f.IO, Daemon: f.Daemon, Prompter: f.Prompter(), Env: f.Env}
	cmd := &cobra.Command{
		Use:   "passwd [--passphrase-file OLD] [--new-passphrase-file NEW] [--allow-short]",
		Short: "Change the file vault's passphrase",
		Example: `  hfbroker passwd
  hfbroker passwd --passphrase-file old.txt --new-passphrase-file new.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return passwdRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.OldFile, "passphrase-file", "", "read the current passphrase from this file")
	cmd.Flags().StringVar(&opts.NewFile, "new-passphrase-file", "", "read the new passphrase from this file")
	cmd.Flags().BoolVar(&opts.AllowShort, "allow-short", false, "accept a new passphrase shorter than 8 characters")
	return cmd
}

func passwdRun(ctx context.Context, opts *PasswdOptions) error {
	oldPass, err := readPassphraseFrom(opts.Prompter, passphraseFile(opts.OldFile, opts.Env), "Current passphrase: ")
	if err != nil {
		return err
	}
	defer clear(oldPass)
	// Never HFBROKER_PASSPHRASE_FILE for the new one: that holds the
	// current one.
	newPass, err := readNewPassphrase(opts.Prompter, opts.NewFile, opts.AllowShort)
	if err != nil {
		return err
	}
	defer clear(newPass)
	return withDaemon(ctx, opts.Daemon, func(c Daemon) error {
		if _, err := c.ChangePassphrase(ctx, &pb.ChangePassphraseRequest{OldPassphrase: oldPass, NewPassphrase: newPass}); err != nil {
			return err
		}
		fmt.Fprintln(opts.IO.Out, "Passphrase changed")
		return nil
	})
}
