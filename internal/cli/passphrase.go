package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"unicode/utf8"

	"github.com/hfbroker/hfbroker/internal/config"
)

// The passphrase of the file vault, as unlock, passwd, migrate and login
// read it: from a file that only you can read, or from a prompt that does
// not echo.

// vaultFileExists reports whether the file vault exists where the daemon
// keeps it. Anything at the path counts: only a clear absence means "new".
func vaultFileExists(env config.Env) bool {
	paths, err := config.ResolvePaths(env)
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

// passphraseFile is the passphrase file to read: the flag's, else
// HFBROKER_PASSPHRASE_FILE's; "" is the prompt.
func passphraseFile(flag string, env config.Env) string {
	if flag != "" {
		return flag
	}
	return env("HFBROKER_PASSPHRASE_FILE")
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
func readPassphraseFrom(p Prompter, file, prompt string) ([]byte, error) {
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
	if !p.IsTerminal() {
		return nil, errorWithHint(ExitUsage, "pass --passphrase-file FILE or set HFBROKER_PASSPHRASE_FILE", "no terminal to ask for the passphrase")
	}
	b, err := p.Secret(prompt)
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
func readNewPassphrase(pr Prompter, file string, allowShort bool) ([]byte, error) {
	var a []byte
	if file != "" {
		p, err := readPassphraseFrom(pr, file, "")
		if err != nil {
			return nil, err
		}
		a = p
	} else {
		p, err := readPassphraseFrom(pr, "", "New passphrase: ")
		if err != nil {
			return nil, err
		}
		a = p
		if err := checkNewPassphrase(a, allowShort); err != nil {
			clear(a)
			return nil, err
		}
		b, err := readPassphraseFrom(pr, "", "Repeat the new passphrase: ")
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
