package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/hfbroker/hfbroker/internal/config"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

func newCmdLock(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "lock",
		Short: "Forget every token held in memory and end every lease",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withDaemon(cmd.Context(), f.Daemon, func(c Daemon) error {
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

// UnlockOptions are unlock's inputs.
type UnlockOptions struct {
	Factory        *Factory
	PassphraseFile string
	AllowShort     bool
}

func newCmdUnlock(f *Factory) *cobra.Command {
	opts := &UnlockOptions{Factory: f}
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
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withDaemon(cmd.Context(), f.Daemon, func(c Daemon) error {
				return unlockRun(cmd.Context(), opts, c)
			})
		},
	}
	cmd.Flags().StringVar(&opts.PassphraseFile, "passphrase-file", "", "read the passphrase from this file (yours, mode 0600 or stricter)")
	cmd.Flags().BoolVar(&opts.AllowShort, "allow-short", false, "accept a new vault passphrase shorter than 8 characters")
	return cmd
}

func unlockRun(ctx context.Context, opts *UnlockOptions, api vaultAPI) error {
	f := opts.Factory
	file := opts.PassphraseFile
	if file == "" {
		file = f.Env("HFBROKER_PASSPHRASE_FILE")
	}
	resp, err := openVault(ctx, f, api, file, opts.AllowShort)
	if err != nil {
		return err
	}
	if resp.GetCreated() {
		fmt.Fprintf(f.IO.Out, "Created a new vault at %s; it is unlocked\n", resp.GetVaultPath())
		return nil
	}
	fmt.Fprintln(f.IO.Out, "Unlocked")
	return nil
}

func newCmdPasswd(f *Factory) *cobra.Command {
	var oldFile, newFile string
	var allowShort bool
	cmd := &cobra.Command{
		Use:   "passwd [--passphrase-file OLD] [--new-passphrase-file NEW] [--allow-short]",
		Short: "Change the file vault's passphrase",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			oldPass, err := readPassphrase(f, oldFile, "Current passphrase: ")
			if err != nil {
				return err
			}
			defer clear(oldPass)
			// Never HFBROKER_PASSPHRASE_FILE for the new one: that holds
			// the current one.
			newPass, err := readNewPassphrase(f, newFile, allowShort)
			if err != nil {
				return err
			}
			defer clear(newPass)
			return withDaemon(cmd.Context(), f.Daemon, func(c Daemon) error {
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
	cmd.Flags().BoolVar(&allowShort, "allow-short", false, "accept a new passphrase shorter than 8 characters")
	return cmd
}

func newCmdMigrate(f *Factory) *cobra.Command {
	var to, file string
	var allowShort bool
	cmd := &cobra.Command{
		Use:   "migrate --to file|keychain [--passphrase-file FILE] [--allow-short]",
		Short: "Move every token to another backend",
		Long: `Move every token to another backend. Each token is written to the new backend
and read back before any is removed from the old one; config.toml then names
the new backend. Moving to a vault that does not exist yet creates it: on a
terminal its passphrase is asked twice.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var pass []byte
			if to == "file" {
				if file == "" {
					file = f.Env("HFBROKER_PASSPHRASE_FILE")
				}
				read := func() ([]byte, error) { return readPassphraseFrom(f, file, "Vault passphrase: ") }
				if !vaultFileExists(f) {
					read = func() ([]byte, error) { return readNewPassphrase(f, file, allowShort) }
				}
				p, err := read()
				if err != nil {
					return err
				}
				pass = p
				defer clear(pass)
			}
			return withDaemon(cmd.Context(), f.Daemon, func(c Daemon) error {
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
	cmd.Flags().BoolVar(&allowShort, "allow-short", false, "accept a new vault passphrase shorter than 8 characters")
	cmd.MarkFlagRequired("to")
	return cmd
}

// vaultFileExists reports whether the file vault exists where the daemon
// keeps it. Anything at the path counts: only a clear absence means "new".
func vaultFileExists(f *Factory) bool {
	paths, err := config.ResolvePaths(f.Env)
	if err != nil {
		return true
	}
	_, err = os.Lstat(paths.VaultFile())
	return !errors.Is(err, fs.ErrNotExist)
}

// minPassphraseLen is the shortest new vault passphrase accepted without
// --allow-short. The vault is only as strong as it: scrypt slows each guess,
// it cannot make a short passphrase long.
const minPassphraseLen = 8

// readPassphrase reads a passphrase from a file (flag, else
// HFBROKER_PASSPHRASE_FILE) or a no-echo prompt.
func readPassphrase(f *Factory, file, prompt string) ([]byte, error) {
	if file == "" {
		file = f.Env("HFBROKER_PASSPHRASE_FILE")
	}
	return readPassphraseFrom(f, file, prompt)
}

// readPassphraseFrom reads a passphrase from file, or from a no-echo prompt
// when file is "".
//
// A passphrase file must be yours and private, as ssh requires of a private
// key: one another user owns, or that group or others can read or write, is
// refused. Readable, its passphrase is as good as public; writable, someone
// else chooses your next vault's passphrase. The checks run on the open file
// (fstat), so the file cannot be swapped between check and read. No error
// here quotes the file's content: it may be anything, and it may be secret.
func readPassphraseFrom(f *Factory, file, prompt string) ([]byte, error) {
	if file != "" {
		fh, err := os.Open(file)
		if err != nil {
			return nil, errorWithHint(ExitError, "", "passphrase file: %v", err)
		}
		defer fh.Close()
		st, err := fh.Stat()
		if err != nil {
			return nil, errorWithHint(ExitError, "", "passphrase file: %v", err)
		}
		if st.IsDir() {
			return nil, errorWithHint(ExitError, "", "passphrase file %s is a directory", file)
		}
		if uid, foreign := foreignOwner(st); foreign {
			return nil, errorWithHint(ExitError, "use a passphrase file of your own, mode 0600",
				"passphrase file %s belongs to another user (uid %d)", file, uid)
		}
		if perm := st.Mode().Perm(); perm&0o077 != 0 {
			return nil, errorWithHint(ExitError, "run 'chmod 600 "+file+"'",
				"passphrase file %s can be read or written by group or others (mode %04o)", file, perm)
		}
		b, err := io.ReadAll(io.LimitReader(fh, 4096))
		if err != nil {
			return nil, errorWithHint(ExitError, "", "read passphrase file %s: %v", file, err)
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

// readNewPassphrase reads a passphrase that is about to lock a vault: from
// file as it is, or from the terminal twice, the two entries compared (a typo
// typed once would lock the vault for good). Shorter than minPassphraseLen is
// refused unless allowShort.
func readNewPassphrase(f *Factory, file string, allowShort bool) ([]byte, error) {
	var a []byte
	if file != "" {
		p, err := readPassphraseFrom(f, file, "")
		if err != nil {
			return nil, err
		}
		a = p
	} else {
		p, err := readPassphraseFrom(f, "", "New passphrase: ")
		if err != nil {
			return nil, err
		}
		a = p
		if err := checkNewPassphrase(a, allowShort); err != nil {
			clear(a)
			return nil, err
		}
		b, err := readPassphraseFrom(f, "", "Repeat the new passphrase: ")
		if err != nil {
			clear(a)
			return nil, err
		}
		defer clear(b)
		if !bytes.Equal(a, b) {
			clear(a)
			return nil, errorWithHint(ExitError, "run the command again and type the same passphrase twice", "the passphrases differ")
		}
	}
	if err := checkNewPassphrase(a, allowShort); err != nil {
		clear(a)
		return nil, err
	}
	return a, nil
}

func checkNewPassphrase(p []byte, allowShort bool) error {
	if n := utf8.RuneCount(p); n < minPassphraseLen && !allowShort {
		return errorWithHint(ExitError, "choose a longer one, or pass --allow-short to accept it",
			"the passphrase has %d characters; a new vault passphrase needs at least %d", n, minPassphraseLen)
	}
	return nil
}
