package scan

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hfbroker/hfbroker/internal/atomicfile"
	"github.com/hfbroker/hfbroker/internal/secret"
)

// ErrNotImported means a plaintext file holds a token the caller did not
// list as imported, so it was left in place.
var ErrNotImported = errors.New("the file holds a token that was not imported")

// RemovePlaintext deletes a plaintext token store (the token file,
// stored_tokens, a legacy token file) once its tokens are safe elsewhere.
// imported lists the tokens the caller has stored; if the file holds any
// other token, it stays and the error is ErrNotImported. A missing file is
// not an error. It deletes the whole file, so it is for files that exist only
// to hold tokens; use Redact for source files and .env files.
//
// The check and the delete cannot race with a writer: the file is first
// renamed aside, so a concurrent "hf auth login" creates a fresh file rather
// than writing into the one being checked; the renamed copy is then read,
// checked and deleted, or linked back into place if it must stay.
func RemovePlaintext(path string, imported []secret.Token) error {
	if _, err := regularFile(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("remove %s: %w", path, err)
	}
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	aside := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".hfbroker-remove-"+hex.EncodeToString(suffix[:]))
	if err := os.Rename(path, aside); err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	data, err := readSmall(aside)
	if err == nil && !allImported(data, imported) {
		err = ErrNotImported
	}
	if err != nil {
		if rerr := restore(aside, path); rerr != nil {
			return fmt.Errorf("remove %s: %w; and restoring it failed, its contents are in %s: %v", path, err, aside, rerr)
		}
		return fmt.Errorf("remove %s: %w", path, err)
	}
	if err := os.Remove(aside); err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	atomicfile.SyncDir(filepath.Dir(path))
	return nil
}

// restore puts a renamed-aside file back. Link fails if someone created path
// meanwhile, so their file is never overwritten; the aside copy then stays
// for the user to reconcile.
func restore(aside, path string) error {
	if err := os.Link(aside, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		// Filesystems without hard links: a rename is the best left.
		if _, serr := os.Lstat(path); !errors.Is(serr, fs.ErrNotExist) {
			return err
		}
		return os.Rename(aside, path)
	}
	return os.Remove(aside)
}

// allImported reports whether every token in data is in imported. Tokens are
// what Find sees, every hf_token of a stored_tokens file, and the whole
// cleaned content when the file is a bare token (which Find can miss: an
// hf_oauth_ token shorter than Find's minimum, say).
func allImported(data []byte, imported []secret.Token) bool {
	have := map[secret.Token]bool{}
	for _, t := range imported {
		have[t] = true
	}
	var tokens []secret.Token
	for _, m := range Find(data) {
		tokens = append(tokens, m.Token)
	}
	if stored, err := parseStoredTokens(data); err == nil {
		for _, s := range stored {
			tokens = append(tokens, s.Token)
		}
	}
	if t := cleanToken(string(data)); t != "" && secret.Check(t) == nil {
		tokens = append(tokens, secret.Token(t))
	}
	for _, t := range tokens {
		if !have[t] {
			return false
		}
	}
	return true
}
