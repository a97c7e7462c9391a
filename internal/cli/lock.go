package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/hfbroker/hfbroker/internal/client"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

func init() {
	extraCommands = append(extraCommands, newCmdLock, newCmdUnlock, newCmdPasswd, newCmdMigrate)
}

func newCmdLock(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "lock",
		Short: "Forget every token held in memory and end every lease",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withClient(cmd.Context(), f, func(c *client.Client) error {
				resp, err := c.Lock(cmd.Context(), &pb.LockRequest{})
				if err != nil {
					return err
				}
				fmt.Fprintf(f.IO.Out, "Locked; ended %d lease(s)\n", resp.GetEndedLeases())
				return nil
			})
		},
	}
}

func newCmdUnlock(f *Factory) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "unlock [--passphrase-file FILE]",
		Short: "Open the encrypted file vault",
		Long: `Open the encrypted file vault (backend "file") with its passphrase, read from a
prompt that does not echo, or from --passphrase-file / HFBROKER_PASSPHRASE_FILE
for automation (refused when group or others can read that file). The first
unlock of a new vault sets its passphrase.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pass, err := readPassphrase(f, file, "Vault passphrase: ")
			if err != nil {
				return err
			}
			defer clear(pass)
			return withClient(cmd.Context(), f, func(c *client.Client) error {
				if _, err := c.Unlock(cmd.Context(), &pb.UnlockRequest{Passphrase: pass}); err != nil {
					return err
				}
				fmt.Fprintln(f.IO.Out, "Unlocked")
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&file, "passphrase-file", "", "read the passphrase from this file (mode 0600 or stricter)")
	return cmd
}

func newCmdPasswd(f *Factory) *cobra.Command {
	var oldFile, newFile string
	cmd := &cobra.Command{
		Use:   "passwd [--passphrase-file OLD] [--new-passphrase-file NEW]",
		Short: "Change the file vault's passphrase",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			oldPass, err := readPassphrase(f, oldFile, "Current passphrase: ")
			if err != nil {
				return err
			}
			defer clear(oldPass)
			newPass, err := readNewPassphrase(f, newFile)
			if err != nil {
				return err
			}
			defer clear(newPass)
			return withClient(cmd.Context(), f, func(c *client.Client) error {
				if _, err := c.ChangePassphrase(cmd.Context(), &pb.ChangePassphraseRequest{OldPassphrase: oldPass, NewPassphrase: newPass}); err != nil {
					return err
				}
				fmt.Fprintln(f.IO.Out, "Passphrase changed")
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&oldFile, "passphrase-file", "", "read the current passphrase from this file")
	cmd.Flags().StringVar(&newFile, "new-passphrase-file", "", "read the new passphrase from this file")
	return cmd
}

func newCmdMigrate(f *Factory) *cobra.Command {
	var to, file string
	cmd := &cobra.Command{
		Use:   "migrate --to file|keychain [--passphrase-file FILE]",
		Short: "Move every token to another backend",
		Long: `Move every token to another backend. Each token is written to the new backend
and read back before any is removed from the old one; config.toml then names
the new backend.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var pass []byte
			if to == "file" {
				p, err := readPassphrase(f, file, "Vault passphrase: ")
				if err != nil {
					return err
				}
				pass = p
				defer clear(pass)
			}
			return withClient(cmd.Context(), f, func(c *client.Client) error {
				resp, err := c.Migrate(cmd.Context(), &pb.MigrateRequest{To: to, Passphrase: pass})
				if err != nil {
					return err
				}
				fmt.Fprintf(f.IO.Out, "Moved %d token(s) to the %s backend\n", resp.GetMoved(), resp.GetBackend())
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "file or keychain")
	cmd.Flags().StringVar(&file, "passphrase-file", "", "read the vault passphrase from this file")
	cmd.MarkFlagRequired("to")
	return cmd
}

// readPassphrase reads a passphrase from a file (flag, else
// HFBROKER_PASSPHRASE_FILE) or a no-echo prompt. A file others can read is
// refused: its passphrase is as good as public.
func readPassphrase(f *Factory, file, prompt string) ([]byte, error) {
	if file == "" {
		file = f.Env("HFBROKER_PASSPHRASE_FILE")
	}
	return readPassphraseFrom(f, file, prompt)
}

func readPassphraseFrom(f *Factory, file, prompt string) ([]byte, error) {
	if file != "" {
		st, err := os.Stat(file)
		if err != nil {
			return nil, errorWithHint(ExitError, "", "passphrase file: %v", err)
		}
		if st.Mode().Perm()&0o044 != 0 {
			return nil, errorWithHint(ExitError, "run 'chmod 600 "+file+"'", "passphrase file %s is readable by group or others (mode %04o)", file, st.Mode().Perm())
		}
		fh, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer fh.Close()
		b, err := io.ReadAll(io.LimitReader(fh, 4096))
		if err != nil {
			return nil, err
		}
		b = bytes.TrimRight(b, "\r\n")
		if len(b) == 0 {
			return nil, errorWithHint(ExitError, "", "passphrase file %s is empty", file)
		}
		return b, nil
	}
	if !f.IO.IsTerminal() {
		return nil, errorWithHint(ExitUsage, "pass --passphrase-file FILE or set HFBROKER_PASSPHRASE_FILE", "no terminal to ask for the passphrase")
	}
	fmt.Fprint(f.IO.ErrOut, prompt)
	b, err := f.ReadPassword(f.IO.InFd)
	fmt.Fprintln(f.IO.ErrOut)
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	if len(b) == 0 {
		return nil, errorWithHint(ExitError, "", "empty passphrase")
	}
	return b, nil
}

func readNewPassphrase(f *Factory, file string) ([]byte, error) {
	if file != "" {
		return readPassphraseFrom(f, file, "")
	}
	// Never HFBROKER_PASSPHRASE_FILE here: that holds the current one.
	a, err := readPassphraseFrom(f, "", "New passphrase: ")
	if err != nil {
		return nil, err
	}
	b, err := readPassphraseFrom(f, "", "Repeat new passphrase: ")
	if err != nil {
		return nil, err
	}
	defer clear(b)
	if !bytes.Equal(a, b) {
		clear(a)
		return nil, errorWithHint(ExitError, "", "the passphrases differ")
	}
	return a, nil
}
