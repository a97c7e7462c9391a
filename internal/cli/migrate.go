package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hfbroker/hfbroker/internal/config"

	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// MigrateOptions are migrate's inputs.
type MigrateOptions struct {
	IO     *IOStreams
	Daemon DaemonFunc
	// Prompter asks for the passphrase when no file gives it.
	Prompter Prompter
	// Env is the environment: HFBROKER_PASSPHRASE_FILE, where the vault is.
	Env            config.Env
	To             string
	PassphraseFile string
	AllowShort     bool
}

func newCmdMigrate(f *Factory, runF func(*MigrateOptions) error) *cobra.Command {
	opts := &MigrateOptions{IO: f.IO, Daemon: f.Daemon, Prompter: f.Prompter(), Env: f.Env}
	cmd := &cobra.Command{
		Use:   "migrate --to file|keychain [--passphrase-file FILE] [--allow-short]",
		Short: "Move every token to another backend",
		Long: `Move every token to another backend. Each token is written to the new backend
and read back before any is removed from the old one; config.toml then names
the new backend. Moving to a vault that does not exist yet creates it: on a
terminal its passphrase is asked twice.`,
		Example: `  hfbroker migrate --to file
  hfbroker migrate --to keychain`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return migrateRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.To, "to", "", "file or keychain")
	cmd.Flags().StringVar(&opts.PassphraseFile, "passphrase-file", "", "read the vault passphrase from this file")
	cmd.Flags().BoolVar(&opts.AllowShort, "allow-short", false, "accept a new vault passphrase shorter than 8 characters")
	cmd.MarkFlagRequired("to")
	return cmd
}

func migrateRun(ctx context.Context, opts *MigrateOptions) error {
	var pass []byte
	if opts.To == "file" {
		file := passphraseFile(opts.PassphraseFile, opts.Env)
		read := func() ([]byte, error) { return readPassphraseFrom(opts.Prompter, file, "Vault passphrase: ") }
		if !vaultFileExists(opts.Env) {
			read = func() ([]byte, error) { return readNewPassphrase(opts.Prompter, file, opts.AllowShort) }
		}
		p, err := read()
		if err != nil {
			return err
		}
		pass = p
		defer clear(pass)
	}
	return withDaemon(ctx, opts.Daemon, func(c Daemon) error {
		resp, err := c.Migrate(ctx, &pb.MigrateRequest{To: opts.To, Passphrase: pass})
		if err != nil {
			return err
		}
		fmt.Fprintf(opts.IO.Out, "Moved %d token(s) to the %s backend\n", resp.GetMoved(), resp.GetBackend())
		return nil
	})
}
