package keystore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/hfbroker/hfbroker/internal/testutil"
)

// testWorkFactor keeps scrypt cheap in tests; production uses age's default.
const testWorkFactor = 2

var testPass = []byte("correct horse battery staple")

// newUnlockedFile returns a File in a fresh directory, unlocked with testPass.
func newUnlockedFile(t *testing.T) *File {
	t.Helper()
	f, err := NewFile(filepath.Join(t.TempDir(), "hfbroker", "vault.age"), FileOptions{WorkFactor: testWorkFactor})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Create(context.Background(), testPass); err != nil {
		t.Fatalf("Create: %v", err)
	}
	return f
}

// decryptWithAge opens the vault with age directly, bypassing File.
func decryptWithAge(t *testing.T, path string, pass []byte) (vaultPayload, error) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read vault: %v", err)
	}
	id, err := age.NewScryptIdentity(string(pass))
	if err != nil {
		t.Fatal(err)
	}
	r, err := age.Decrypt(bytes.NewReader(data), id)
	if err != nil {
		return vaultPayload{}, err
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		return vaultPayload{}, err
	}
	var p vaultPayload
	if err := json.Unmarshal(plain, &p); err != nil {
		return vaultPayload{}, fmt.Errorf("payload is not JSON: %w", err)
	}
	return p, nil
}

func TestFileConformance(t *testing.T) {
	testStoreConformance(t, func(t *testing.T) Store { return newUnlockedFile(t) })
}

func TestFileStartsLocked(t *testing.T) {
	f, err := NewFile(filepath.Join(t.TempDir(), "vault.age"), FileOptions{WorkFactor: testWorkFactor})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if !f.Locked() {
		t.Fatal("a new File is not locked")
	}
	if _, err := f.Get(ctx, "work"); !errors.Is(err, ErrLocked) {
		t.Errorf("Get on a locked vault = %v, want ErrLocked", err)
	}
	if err := f.Set(ctx, "work", tokA); !errors.Is(err, ErrLocked) {
		t.Errorf("Set on a locked vault = %v, want ErrLocked", err)
	}
	if err := f.Delete(ctx, "work"); !errors.Is(err, ErrLocked) {
		t.Errorf("Delete on a locked vault = %v, want ErrLocked", err)
	}
	if _, err := os.Stat(f.Path()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a locked File wrote its vault: stat = %v", err)
	}
}

// Issue 19: the first unlock created the vault from one unconfirmed entry,
// so a typo became the vault's passphrase. Unlock now only opens a vault;
// Create, after the caller confirmed the passphrase, makes one.
func TestFileUnlockDoesNotCreateAVaultFromOneUnconfirmedEntry(t *testing.T) {
	f, err := NewFile(filepath.Join(t.TempDir(), "hfbroker", "vault.age"), FileOptions{WorkFactor: testWorkFactor})
	if err != nil {
		t.Fatal(err)
	}
	if exists, err := f.Exists(); exists || err != nil {
		t.Fatalf("Exists on a fresh path = %v, %v; want false, nil", exists, err)
	}
	err = f.Unlock(context.Background(), []byte("typo"))
	if !errors.Is(err, ErrNoVault) {
		t.Fatalf("Unlock with no vault = %v, want ErrNoVault", err)
	}
	if !f.Locked() {
		t.Error("Unlock with no vault left the File unlocked")
	}
	if _, err := os.Lstat(f.Path()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Unlock with no vault wrote one: lstat = %v", err)
	}
}

func TestFileCreateMakesAPrivateVault(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "hfbroker")
	f, err := NewFile(filepath.Join(dir, "vault.age"), FileOptions{WorkFactor: testWorkFactor})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Create(context.Background(), testPass); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if f.Locked() {
		t.Fatal("still locked after Create")
	}
	if exists, err := f.Exists(); !exists || err != nil {
		t.Fatalf("Exists after Create = %v, %v", exists, err)
	}
	st, err := os.Stat(f.Path())
	if err != nil {
		t.Fatalf("Create did not write the vault: %v", err)
	}
	if runtime.GOOS != "windows" {
		if got := st.Mode().Perm(); got != 0o600 {
			t.Errorf("vault mode = %v, want 0600", got)
		}
		dst, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got := dst.Mode().Perm(); got != 0o700 {
			t.Errorf("vault directory mode = %v, want 0700", got)
		}
	}
	p, err := decryptWithAge(t, f.Path(), testPass)
	if err != nil {
		t.Fatalf("the new vault does not open with its passphrase: %v", err)
	}
	if p.Version != 1 || len(p.Tokens) != 0 {
		t.Errorf("new vault payload = version %d, %d tokens; want version 1, empty", p.Version, len(p.Tokens))
	}
	f.Lock()
	if err := f.Unlock(context.Background(), []byte("another passphrase")); !errors.Is(err, ErrBadPassphrase) {
		t.Errorf("Unlock with another passphrase = %v, want ErrBadPassphrase", err)
	}
	// Create never replaces a vault, whatever the passphrase.
	before, _ := os.ReadFile(f.Path())
	if err := f.Create(context.Background(), []byte("another passphrase")); !errors.Is(err, ErrVaultExists) {
		t.Errorf("Create over a vault = %v, want ErrVaultExists", err)
	}
	if after, _ := os.ReadFile(f.Path()); !bytes.Equal(before, after) {
		t.Error("Create rewrote an existing vault")
	}
}

// Issue 19: a symbolic link at the vault path was followed, and age's error
// for a file that is not age quoted its first bytes: a link to
// ~/.cache/huggingface/token put the start of the token in an error the CLI
// prints. The vault is now opened with O_NOFOLLOW and refused with a clear
// error; nothing at the path is ever written over.
func TestFileRefusesASymlinkedVaultAndNeverQuotesItsTarget(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links need privileges on windows")
	}
	dir := t.TempDir()
	foreign := filepath.Join(dir, "token")
	if err := os.WriteFile(foreign, []byte(tokA.Reveal()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "vault.age")
	if err := os.Symlink(foreign, path); err != nil {
		t.Fatal(err)
	}
	f, err := NewFile(path, FileOptions{WorkFactor: testWorkFactor})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, err := range map[string]error{
		"Unlock":           f.Unlock(ctx, testPass),
		"Create":           f.Create(ctx, testPass),
		"ChangePassphrase": f.ChangePassphrase(ctx, testPass, []byte("new passphrase")),
	} {
		if !errors.Is(err, ErrUnsafeVault) || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("%s through a symlinked vault = %v, want ErrUnsafeVault naming the symbolic link", name, err)
		}
		assertNoRunOf(t, name, err, tokA.Reveal())
	}
	if _, err := f.Exists(); !errors.Is(err, ErrUnsafeVault) {
		t.Errorf("Exists on a symlink = %v, want ErrUnsafeVault", err)
	}
	if got, _ := os.ReadFile(foreign); string(got) != tokA.Reveal()+"\n" {
		t.Error("the link's target was changed")
	}
	if st, err := os.Lstat(path); err != nil || st.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("the symlink was replaced: %v", err)
	}
}

// Issue 19: a vault file that is not an age file (here: a plaintext token
// written over it) made Unlock's error quote the file's first bytes.
func TestFileErrorNeverQuotesAForeignFileAtTheVaultPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.age")
	for _, content := range []string{
		tokA.Reveal() + "\n",
		"age-encryption.org/v1\n-> " + tokA.Reveal() + "\n",
		"age-encryption.org/v1\n-> scrypt " + tokA.Reveal() + " 10\n",
	} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := NewFile(path, FileOptions{WorkFactor: testWorkFactor})
		if err != nil {
			t.Fatal(err)
		}
		err = f.Unlock(context.Background(), testPass)
		if err == nil || errors.Is(err, ErrBadPassphrase) {
			t.Fatalf("Unlock of a foreign file = %v, want a decrypt error", err)
		}
		assertNoRunOf(t, "Unlock", err, tokA.Reveal())
	}
}

// Issue 19: a vault owned by another user (planted in a shared or
// mis-owned data directory) is refused, not decrypted.
func TestFileRefusesAVaultOwnedByAnotherUser(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no uid ownership on windows")
	}
	requireRoot(t)
	f := newUnlockedFile(t)
	f.Lock()
	if err := os.Chown(f.Path(), 65534, 65534); err != nil {
		t.Fatal(err)
	}
	err := f.Unlock(context.Background(), testPass)
	if !errors.Is(err, ErrUnsafeVault) || !strings.Contains(err.Error(), "uid 65534") {
		t.Fatalf("Unlock of another user's vault = %v, want ErrUnsafeVault naming its owner", err)
	}
}

// requireRoot skips when not root, unless HFBROKER_TEST_REQUIRE_ROOT=1 says
// the run must cover root-only tests (CI runs as root).
func requireRoot(t *testing.T) { t.Helper(); testutil.RequireRoot(t, "to give a file to another uid") }

// assertNoRunOf fails when err's text holds any 8-byte run of secret.
func assertNoRunOf(t *testing.T, op string, err error, secret string) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for i := 0; i+8 <= len(secret); i++ {
		if strings.Contains(msg, secret[i:i+8]) {
			t.Fatalf("%s error quotes the foreign file: %q", op, msg)
		}
	}
}

func TestFileWrongPassphraseThreeTimesLeavesTheFileByteIdentical(t *testing.T) {
	f := newUnlockedFile(t)
	ctx := context.Background()
	if err := f.Set(ctx, "work", tokA); err != nil {
		t.Fatal(err)
	}
	f.Lock()
	before, err := os.ReadFile(f.Path())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		err := f.Unlock(ctx, []byte(fmt.Sprintf("wrong-%d", i)))
		if !errors.Is(err, ErrBadPassphrase) {
			t.Fatalf("Unlock with a wrong passphrase = %v, want ErrBadPassphrase", err)
		}
		if !f.Locked() {
			t.Fatal("a wrong passphrase unlocked the vault")
		}
	}
	if err := f.ChangePassphrase(ctx, []byte("wrong"), []byte("new")); !errors.Is(err, ErrBadPassphrase) {
		t.Fatalf("ChangePassphrase with a wrong old passphrase = %v, want ErrBadPassphrase", err)
	}
	after, err := os.ReadFile(f.Path())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("wrong passphrases changed the vault file")
	}
	entries, err := os.ReadDir(filepath.Dir(f.Path()))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("vault directory holds %d entries, want only the vault", len(entries))
	}
	if err := f.Unlock(ctx, testPass); err != nil {
		t.Fatalf("the right passphrase no longer opens the vault: %v", err)
	}
}

func TestFileNeverHoldsTheTokenInClear(t *testing.T) {
	f := newUnlockedFile(t)
	ctx := context.Background()
	if err := f.Set(ctx, "work", tokA); err != nil {
		t.Fatal(err)
	}
	if err := f.Set(ctx, "ci", tokB); err != nil {
		t.Fatal(err)
	}
	if err := f.ChangePassphrase(ctx, testPass, []byte("second passphrase")); err != nil {
		t.Fatal(err)
	}
	// Everything the vault directory holds, temp files included.
	err := filepath.WalkDir(filepath.Dir(f.Path()), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, tok := range []string{tokA.Reveal(), tokB.Reveal()} {
			if bytes.Contains(data, []byte(tok)) {
				t.Errorf("%s contains a token in clear", filepath.Base(path))
			}
			// Nor the part after the hf_ prefix, in case of a re-encoding.
			if bytes.Contains(data, []byte(tok[3:])) {
				t.Errorf("%s contains a token's body in clear", filepath.Base(path))
			}
		}
		if bytes.Contains(data, []byte("second passphrase")) {
			t.Errorf("%s contains the passphrase", filepath.Base(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestFileOnlyTheRightPassphraseOpensTheVault(t *testing.T) {
	f := newUnlockedFile(t)
	if err := f.Set(context.Background(), "work", tokA); err != nil {
		t.Fatal(err)
	}
	p, err := decryptWithAge(t, f.Path(), testPass)
	if err != nil {
		t.Fatalf("age with the right passphrase: %v", err)
	}
	if got := p.Tokens["work"]; got != tokA.Reveal() {
		t.Errorf("vault holds %d bytes under work, want the token", len(got))
	}
	for _, wrong := range []string{"wrong", string(testPass) + " ", strings.ToUpper(string(testPass))} {
		if _, err := decryptWithAge(t, f.Path(), []byte(wrong)); !errors.Is(err, age.ErrIncorrectIdentity) {
			t.Errorf("age with a wrong passphrase = %v, want ErrIncorrectIdentity", err)
		}
	}
}

func TestFileLockForgetsTheTokensUntilUnlock(t *testing.T) {
	f := newUnlockedFile(t)
	ctx := context.Background()
	if err := f.Set(ctx, "work", tokA); err != nil {
		t.Fatal(err)
	}
	f.Lock()
	if !f.Locked() {
		t.Fatal("Locked() = false after Lock")
	}
	if f.passphrase != nil || f.tokens != nil {
		t.Error("Lock kept the passphrase or the tokens in memory")
	}
	if _, err := f.Get(ctx, "work"); !errors.Is(err, ErrLocked) {
		t.Fatalf("Get after Lock = %v, want ErrLocked", err)
	}
	if err := f.Unlock(ctx, testPass); err != nil {
		t.Fatal(err)
	}
	if got, err := f.Get(ctx, "work"); err != nil || got != tokA {
		t.Fatalf("Get after re-Unlock = %v, %v", got, err)
	}
}

func TestFileKeepsItsOwnCopyOfThePassphrase(t *testing.T) {
	f, err := NewFile(filepath.Join(t.TempDir(), "vault.age"), FileOptions{WorkFactor: testWorkFactor})
	if err != nil {
		t.Fatal(err)
	}
	pass := bytes.Clone(testPass)
	if err := f.Create(context.Background(), pass); err != nil {
		t.Fatal(err)
	}
	// The caller wipes its buffer, as a careful caller does.
	clear(pass)
	if err := f.Set(context.Background(), "work", tokA); err != nil {
		t.Fatal(err)
	}
	if _, err := decryptWithAge(t, f.Path(), testPass); err != nil {
		t.Fatalf("after the caller cleared its passphrase, the vault was re-encrypted to something else: %v", err)
	}
}

func TestFileChangePassphrase(t *testing.T) {
	f := newUnlockedFile(t)
	ctx := context.Background()
	if err := f.Set(ctx, "work", tokA); err != nil {
		t.Fatal(err)
	}
	newPass := []byte("a brand new passphrase")
	if err := f.ChangePassphrase(ctx, testPass, newPass); err != nil {
		t.Fatalf("ChangePassphrase: %v", err)
	}
	if f.Locked() {
		t.Error("ChangePassphrase locked an unlocked vault")
	}
	// Writes after the change use the new passphrase.
	if err := f.Set(ctx, "ci", tokB); err != nil {
		t.Fatal(err)
	}
	if _, err := decryptWithAge(t, f.Path(), testPass); !errors.Is(err, age.ErrIncorrectIdentity) {
		t.Errorf("the old passphrase still opens the vault: %v", err)
	}
	p, err := decryptWithAge(t, f.Path(), newPass)
	if err != nil {
		t.Fatalf("the new passphrase does not open the vault: %v", err)
	}
	if p.Tokens["work"] != tokA.Reveal() || p.Tokens["ci"] != tokB.Reveal() {
		t.Error("the tokens did not survive the passphrase change")
	}

	// It also works on a locked vault, which stays locked.
	f.Lock()
	if err := f.ChangePassphrase(ctx, newPass, testPass); err != nil {
		t.Fatalf("ChangePassphrase on a locked vault: %v", err)
	}
	if !f.Locked() {
		t.Error("ChangePassphrase unlocked a locked vault")
	}
	if err := f.Unlock(ctx, testPass); err != nil {
		t.Fatalf("Unlock with the changed-back passphrase: %v", err)
	}
}

func TestFileSetDuringLockIsSafe(t *testing.T) {
	// Run under -race: Set, Get, Lock and Unlock from many goroutines. Each
	// call either works or says ErrLocked; nothing else, no race, and the
	// vault on disk stays readable.
	f := newUnlockedFile(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 20 {
		wg.Go(func() {
			for j := range 5 {
				name := fmt.Sprintf("p%d-%d", i, j)
				if err := f.Set(ctx, name, testToken(i*10+j)); err != nil && !errors.Is(err, ErrLocked) {
					errs <- fmt.Errorf("Set: %w", err)
				}
				if _, err := f.Get(ctx, name); err != nil && !errors.Is(err, ErrLocked) && !errors.Is(err, ErrNotFound) {
					errs <- fmt.Errorf("Get: %w", err)
				}
			}
		})
	}
	for range 5 {
		wg.Go(func() {
			for range 4 {
				f.Lock()
				_ = f.Locked()
				if err := f.Unlock(ctx, testPass); err != nil {
					errs <- fmt.Errorf("Unlock: %w", err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, err := decryptWithAge(t, f.Path(), testPass); err != nil {
		t.Fatalf("vault unreadable after the concurrent run: %v", err)
	}
}

func TestFileRefusesAnUnreadableVault(t *testing.T) {
	tests := []struct {
		name    string
		content []byte
	}{
		{"a vault that is not an age file", []byte("hello\n")},
		{"an empty vault file", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "vault.age")
			if err := os.WriteFile(path, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := NewFile(path, FileOptions{WorkFactor: testWorkFactor})
			if err != nil {
				t.Fatal(err)
			}
			err = f.Unlock(context.Background(), testPass)
			if err == nil || errors.Is(err, ErrBadPassphrase) {
				t.Fatalf("Unlock = %v, want a decrypt error that is not ErrBadPassphrase", err)
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(after, tc.content) {
				t.Error("Unlock rewrote an unreadable vault")
			}
		})
	}
}

func TestNewFileRejectsBadOptions(t *testing.T) {
	if _, err := NewFile("", FileOptions{}); err == nil {
		t.Error("NewFile(\"\") succeeded")
	}
	for _, wf := range []int{-1, 31} {
		if _, err := NewFile("x", FileOptions{WorkFactor: wf}); err == nil {
			t.Errorf("NewFile with work factor %d succeeded", wf)
		}
	}
	f, err := NewFile("x", FileOptions{})
	if err != nil || f.workFactor != 18 {
		t.Errorf("default work factor = %d, %v; want age's 18", f.workFactor, err)
	}
}

// Environment for the rewrite-vault helper.
const (
	helperVaultEnv = "HFBROKER_KEYSTORE_TEST_VAULT"
	helperPassEnv  = "HFBROKER_KEYSTORE_TEST_PASS"
)

// helperRewriteVault runs in a child process: it unlocks the vault and
// rewrites it forever, alternating the token of profile "p" between tokA and
// tokB, until the parent kills it.
func helperRewriteVault() int {
	f, err := NewFile(os.Getenv(helperVaultEnv), FileOptions{WorkFactor: testWorkFactor})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	if err := f.Unlock(ctx, []byte(os.Getenv(helperPassEnv))); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	for i := 0; ; i++ {
		tok := tokA
		if i%2 == 0 {
			tok = tokB
		}
		if err := f.Set(ctx, "p", tok); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
}

func TestFileSurvivesKillDuringRewrite(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGKILL on windows")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "vault.age")
	f, err := NewFile(path, FileOptions{WorkFactor: testWorkFactor})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := f.Create(ctx, testPass); err != nil {
		t.Fatal(err)
	}
	if err := f.Set(ctx, "p", tokA); err != nil {
		t.Fatal(err)
	}

	const rounds = 50
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(),
			helperEnv+"=rewrite-vault",
			helperVaultEnv+"="+path,
			helperPassEnv+"="+string(testPass),
		)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || line != "ready\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: helper did not start: %q, %v; stderr: %s", round, line, err, stderr.String())
		}
		// Kill at a random moment within the first few rewrites.
		time.Sleep(time.Duration(rand.IntN(20_000)) * time.Microsecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err = cmd.Wait()
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) || exitErr.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: helper ended with %v, not by SIGKILL; stderr: %s", round, err, stderr.String())
		}

		p, err := decryptWithAge(t, path, testPass)
		if err != nil {
			t.Fatalf("round %d: vault broken after kill -9: %v", round, err)
		}
		if len(p.Tokens) != 1 || (p.Tokens["p"] != tokA.Reveal() && p.Tokens["p"] != tokB.Reveal()) {
			t.Fatalf("round %d: vault holds neither the old nor the new content (%d tokens)", round, len(p.Tokens))
		}
	}
	// The store itself reopens the vault after all that.
	g, err := NewFile(path, FileOptions{WorkFactor: testWorkFactor})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Unlock(ctx, testPass); err != nil {
		t.Fatalf("Unlock after the kill loop: %v", err)
	}
	if got, err := g.Get(ctx, "p"); err != nil || (got != tokA && got != tokB) {
		t.Fatalf("Get after the kill loop = %v, %v", got, err)
	}
	// Unlock tidied away the temp files that killed writers left behind.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "vault.age" {
			t.Errorf("left in the vault directory after Unlock: %s", e.Name())
		}
	}
}

func FuzzDecodePayload(f *testing.F) {
	f.Add([]byte(`{"version":1,"tokens":{}}`))
	f.Add([]byte(`{"version":1,"tokens":{"work":"hf_x"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tokens, err := decodePayload(data)
		if err != nil {
			// Errors never quote the payload: it is full of tokens. Any
			// 8-byte run of the input that shows up in the error text is
			// a leak (short runs could match the fixed message by chance).
			msg := err.Error()
			for i := 0; i+8 <= len(data); i++ {
				run := string(data[i : i+8])
				if strings.Trim(run, "0123456789") == "" {
					continue // offsets and version numbers are printed
				}
				if strings.Contains(msg, run) && !strings.Contains(knownPayloadErrText, run) {
					t.Fatalf("error text quotes the payload: %q", msg)
				}
			}
			return
		}
		if tokens == nil {
			t.Fatal("decodePayload returned a nil map without an error")
		}
		if _, ok := tokens[""]; ok {
			t.Fatal("decodePayload accepted an empty profile name")
		}
	})
}

// knownPayloadErrText holds every fixed word decodePayload's errors use, so
// the fuzz target does not mistake them for quoted input.
const knownPayloadErrText = "malformed vault payload at byte : trailing data empty profile name unsupported vault version"
