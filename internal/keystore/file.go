package keystore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"filippo.io/age"
	"github.com/hfbroker/hfbroker/internal/atomicfile"
	"github.com/hfbroker/hfbroker/internal/secret"
)

// DefaultWorkFactor is age's own scrypt work factor (log2 of N): about one
// second of CPU on a current machine, paid on every Unlock and every write.
const DefaultWorkFactor = 18

// maxVaultSize bounds what Unlock reads. A vault holds a few tokens of at
// most secret.MaxLen bytes each; anything near this is not ours.
const maxVaultSize = 8 << 20

// vaultVersion is the payload format written by this code.
const vaultVersion = 1

// FileOptions configures NewFile.
type FileOptions struct {
	// WorkFactor is the scrypt work factor (log2 of N, 1..30) used when the
	// vault is written; DefaultWorkFactor when 0. Tests lower it to stay
	// fast. Unlock accepts any vault up to max(22, WorkFactor), age's own cap.
	WorkFactor int
}

// File is a Store in a single file encrypted with age to a passphrase
// (scrypt recipient), for machines without a keychain. Inside the age
// payload is a small JSON document mapping profile names to tokens.
//
// A File starts locked; Get, Set and Delete then fail with ErrLocked. Create
// makes a new vault, encrypted to a passphrase the caller has confirmed;
// Unlock decrypts an existing one into memory. Lock forgets the tokens and
// the passphrase. The vault is only ever read through a regular file the
// user owns: a symbolic link at its path is refused, not followed.
//
// Every write re-encrypts the whole vault (one scrypt derivation) and
// replaces the file atomically: a temp file in the same directory, fsync,
// rename over the vault, fsync of the directory. A crash at any moment
// leaves either the old or the new vault, never a broken or missing one.
// The file is 0600 and a directory the File creates is 0700. Tokens are
// never written in clear.
//
// Throttling wrong passphrases is the broker's job, not the File's.
type File struct {
	path       string
	workFactor int

	mu     sync.RWMutex
	tokens map[string]string // nil while locked
	// passphrase is kept while unlocked, because every write re-encrypts.
	// It is cleared by Lock.
	passphrase []byte
}

var _ Store = (*File)(nil)

// vaultPayload is the JSON document inside the age file.
type vaultPayload struct {
	Version int               `json:"version"`
	Tokens  map[string]string `json:"tokens"`
}

// NewFile returns a locked File vault at path. Nothing is read or written
// until Unlock.
func NewFile(path string, opts FileOptions) (*File, error) {
	if path == "" {
		return nil, errors.New("file vault: empty path")
	}
	wf := opts.WorkFactor
	if wf == 0 {
		wf = DefaultWorkFactor
	}
	if wf < 1 || wf > 30 {
		return nil, fmt.Errorf("file vault: scrypt work factor %d outside 1..30", wf)
	}
	return &File{path: path, workFactor: wf}, nil
}

// Kind returns "file".
func (f *File) Kind() string { return KindFile }

// Path returns the vault's file path.
func (f *File) Path() string { return f.path }

// Locked reports whether the vault is locked.
func (f *File) Locked() bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.tokens == nil
}

// Unlock decrypts the vault with passphrase and keeps its tokens in memory.
// A wrong passphrase returns ErrBadPassphrase and leaves the file untouched.
// When no vault exists yet, Unlock returns an error matching ErrNoVault and
// creates nothing: a passphrase typed once, to open a vault, must not become
// a new vault's passphrase (Create does that, after the caller confirmed it).
// Unlocking an unlocked vault re-reads the file and replaces what is in
// memory; a wrong passphrase then leaves the vault as it was.
//
// The caller keeps ownership of passphrase and may clear it afterwards; the
// File keeps its own copy until Lock.
func (f *File) Unlock(ctx context.Context, passphrase []byte) error {
	if len(passphrase) == 0 {
		return fmt.Errorf("unlock vault: %w: empty passphrase", ErrBadPassphrase)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("unlock vault: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()

	tokens, err := f.read(passphrase)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("unlock vault: %w at %s", ErrNoVault, f.path)
	}
	if err != nil {
		return fmt.Errorf("unlock vault: %w", err)
	}
	f.removeStaleTemps()
	f.forget()
	f.tokens = tokens
	f.passphrase = bytes.Clone(passphrase)
	return nil
}

// Create writes a new, empty vault encrypted to passphrase and leaves it
// unlocked. It never replaces a vault: when one exists it returns an error
// matching ErrVaultExists and changes nothing. Choosing the passphrase
// (asking twice, a minimum length) is the caller's job.
func (f *File) Create(ctx context.Context, passphrase []byte) error {
	if len(passphrase) == 0 {
		return errors.New("create vault: empty passphrase")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("create vault: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// The daemon is the vault's only writer, and f.mu is held: nothing can
	// create the vault between this check and the write.
	switch exists, err := f.exists(); {
	case err != nil:
		return fmt.Errorf("create vault: %w", err)
	case exists:
		return fmt.Errorf("create vault: %w at %s", ErrVaultExists, f.path)
	}
	f.removeStaleTemps()
	tokens := map[string]string{}
	if err := f.write(passphrase, tokens); err != nil {
		return fmt.Errorf("create vault: %w", err)
	}
	f.forget()
	f.tokens = tokens
	f.passphrase = bytes.Clone(passphrase)
	return nil
}

// Exists reports whether the vault file exists. Anything at the path that is
// not a regular file (a symbolic link, a directory) is an error matching
// ErrUnsafeVault, never "absent": Create must not write over it.
func (f *File) Exists() (bool, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.exists()
}

func (f *File) exists() (bool, error) {
	st, err := os.Lstat(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !st.Mode().IsRegular() {
		return false, unsafeVault(f.path, st.Mode())
	}
	return true, nil
}

// unsafeVault describes what is at the vault path without reading it.
func unsafeVault(path string, mode fs.FileMode) error {
	what := "not a regular file"
	switch {
	case mode&fs.ModeSymlink != 0:
		what = "a symbolic link; hfbroker does not follow one there"
	case mode.IsDir():
		what = "a directory"
	}
	return fmt.Errorf("%w: %s is %s", ErrUnsafeVault, path, what)
}

// Lock forgets the tokens and the passphrase. The passphrase bytes are
// zeroed; the token strings cannot be (Go strings are immutable), so they are
// only dropped for the garbage collector.
func (f *File) Lock() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forget()
}

// forget drops the in-memory secrets. f.mu must be held for writing.
func (f *File) forget() {
	clear(f.passphrase)
	f.passphrase = nil
	clear(f.tokens)
	f.tokens = nil
}

// removeStaleTemps deletes temp files that a writer killed mid-rewrite left
// beside the vault. They hold only ciphertext, so this is tidiness, not
// secrecy. It runs only after the right passphrase proved the caller owns
// the vault, and the daemon is the vault's only writer (one daemon per
// user), so no live rewrite can be in progress. f.mu must be held.
func (f *File) removeStaleTemps() {
	stale, _ := filepath.Glob(filepath.Join(filepath.Dir(f.path), tempPattern(f.path)))
	for _, p := range stale {
		os.Remove(p)
	}
}

// tempPattern is the os.CreateTemp pattern for rewrites of path; its "*"
// makes it a filepath.Glob pattern too.
func tempPattern(path string) string { return "." + filepath.Base(path) + ".*.tmp" }

// ChangePassphrase re-encrypts the vault to newPass after checking oldPass
// against the file. It works whether or not the vault is unlocked, and leaves
// the lock state as it was (an unlocked vault stays unlocked, now with
// newPass). A wrong oldPass returns ErrBadPassphrase and rewrites nothing.
func (f *File) ChangePassphrase(ctx context.Context, oldPass, newPass []byte) error {
	if len(newPass) == 0 {
		return errors.New("change vault passphrase: the new passphrase is empty")
	}
	if len(oldPass) == 0 {
		return fmt.Errorf("change vault passphrase: %w: empty passphrase", ErrBadPassphrase)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("change vault passphrase: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()

	// The file is the truth: checking oldPass against it (not against the
	// copy in memory) means a stale in-memory passphrase can't be used to
	// take over a vault someone else re-keyed.
	tokens, err := f.read(oldPass)
	if err != nil {
		return fmt.Errorf("change vault passphrase: %w", err)
	}
	if err := f.write(newPass, tokens); err != nil {
		return fmt.Errorf("change vault passphrase: %w", err)
	}
	if f.tokens != nil {
		f.forget()
		f.tokens = tokens
		f.passphrase = bytes.Clone(newPass)
	}
	return nil
}

// Get returns the token stored under name.
func (f *File) Get(ctx context.Context, name string) (secret.Token, error) {
	if err := checkName(name); err != nil {
		return "", fmt.Errorf("read token %q from vault: %w", name, err)
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.tokens == nil {
		return "", fmt.Errorf("read token %q from vault: %w", name, ErrLocked)
	}
	tok, ok := f.tokens[name]
	if !ok {
		return "", fmt.Errorf("read token %q from vault: %w", name, ErrNotFound)
	}
	return secret.Token(tok), nil
}

// Set stores tok under name and rewrites the vault. The token is in memory
// only once the file holds it.
func (f *File) Set(ctx context.Context, name string, tok secret.Token) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("store token %q in vault: %w", name, err)
	}
	if err := checkToken(tok); err != nil {
		return fmt.Errorf("store token %q in vault: %w", name, err)
	}
	return f.update(ctx, fmt.Sprintf("store token %q in vault", name), func(m map[string]string) error {
		m[name] = tok.Reveal()
		return nil
	})
}

// Delete removes the token stored under name and rewrites the vault.
func (f *File) Delete(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("delete token %q from vault: %w", name, err)
	}
	return f.update(ctx, fmt.Sprintf("delete token %q from vault", name), func(m map[string]string) error {
		if _, ok := m[name]; !ok {
			return ErrNotFound
		}
		delete(m, name)
		return nil
	})
}

// update applies change to a copy of the tokens, writes the copy, and only
// then makes it current, so a failed write leaves memory and file agreeing.
func (f *File) update(ctx context.Context, op string, change func(map[string]string) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tokens == nil {
		return fmt.Errorf("%s: %w", op, ErrLocked)
	}
	next := make(map[string]string, len(f.tokens)+1)
	for k, v := range f.tokens {
		next[k] = v
	}
	if err := change(next); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := f.write(f.passphrase, next); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	f.tokens = next
	return nil
}

// read decrypts the vault file with passphrase. It returns an error matching
// fs.ErrNotExist when there is no vault, ErrUnsafeVault when the path is not
// a regular file of ours, and ErrBadPassphrase when the passphrase does not
// open it.
//
// The file is opened without following a symbolic link (openVault): a
// link planted at the vault path must not make the daemon read, and quote
// back, a file of the link's choosing. For the same reason no error here
// carries age's own text for a malformed file: age quotes the file's first
// bytes ("unexpected intro: ..."), and those may be a token.
func (f *File) read(passphrase []byte) (map[string]string, error) {
	fh, err := openVault(f.path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	id, err := age.NewScryptIdentity(string(passphrase))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPassphrase, err)
	}
	id.SetMaxWorkFactor(max(22, f.workFactor))
	r, err := age.Decrypt(io.LimitReader(fh, maxVaultSize), id)
	if errors.Is(err, age.ErrIncorrectIdentity) {
		return nil, ErrBadPassphrase
	}
	if err != nil {
		return nil, fmt.Errorf("decrypt %s: not an age-encrypted vault, or a damaged one", f.path)
	}
	plain, err := io.ReadAll(r)
	defer clear(plain)
	if err != nil {
		return nil, fmt.Errorf("decrypt %s: the vault is damaged (its content fails age's authentication)", f.path)
	}
	tokens, err := decodePayload(plain)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", f.path, err)
	}
	return tokens, nil
}

// decodePayload parses the decrypted JSON. Its errors never quote the input:
// the input is full of tokens.
func decodePayload(plain []byte) (map[string]string, error) {
	var p vaultPayload
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		// json errors can quote a fragment of the input; say only where.
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, fmt.Errorf("malformed vault payload at byte %d", syn.Offset)
		}
		return nil, errors.New("malformed vault payload")
	}
	if dec.More() {
		return nil, errors.New("malformed vault payload: trailing data")
	}
	if p.Version != vaultVersion {
		return nil, fmt.Errorf("unsupported vault version %d", p.Version)
	}
	if p.Tokens == nil {
		p.Tokens = map[string]string{}
	}
	for name := range p.Tokens {
		if name == "" {
			return nil, errors.New("malformed vault payload: empty profile name")
		}
	}
	return p.Tokens, nil
}

// write encrypts tokens to passphrase and atomically replaces the vault.
func (f *File) write(passphrase []byte, tokens map[string]string) error {
	// A map[string]string, not secret.Token: Token's MarshalText redacts.
	plain, err := json.Marshal(vaultPayload{Version: vaultVersion, Tokens: tokens})
	defer clear(plain)
	if err != nil {
		return errors.New("encode vault payload")
	}
	rcpt, err := age.NewScryptRecipient(string(passphrase))
	if err != nil {
		return fmt.Errorf("encrypt vault: %v", err)
	}
	rcpt.SetWorkFactor(f.workFactor)
	var sealed bytes.Buffer
	w, err := age.Encrypt(&sealed, rcpt)
	if err != nil {
		return fmt.Errorf("encrypt vault: %w", err)
	}
	if _, err := w.Write(plain); err != nil {
		return fmt.Errorf("encrypt vault: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("encrypt vault: %w", err)
	}
	return writeFileAtomic(f.path, sealed.Bytes())
}

// writeFileAtomic replaces the vault so that a crash at any moment leaves
// either the old file or the new one. The temporary file's name follows
// tempPattern, so a successful Unlock can clear one a killed writer left.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create vault directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, tempPattern(path))
	if err != nil {
		return fmt.Errorf("write vault: %w", err)
	}
	if err := atomicfile.Replace(tmp, path, data, 0o600); err != nil {
		return fmt.Errorf("write vault: %w", err)
	}
	return nil
}
