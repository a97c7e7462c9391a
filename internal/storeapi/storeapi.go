// Package storeapi is the token store's contract with no backend in it:
// the Store interface, the backend kinds and the errors every backend
// returns. The broker depends on this alone; internal/keystore holds the
// backends (the OS keychain, the age file vault, memory) and re-exports
// these names, so the two are one contract.
package storeapi

import (
	"context"
	"errors"

	"github.com/hfbroker/hfbroker/internal/secret"
)

// Store keeps one token per profile name.
//
// Callers validate profile names (letters, digits, "-_.@", at most 64
// characters); a Store only refuses the empty name, as a last line of defence.
type Store interface {
	// Get returns the token stored under name, or an error matching
	// ErrNotFound when there is none.
	Get(ctx context.Context, name string) (secret.Token, error)
	// Set stores tok under name, replacing any token already there.
	Set(ctx context.Context, name string, tok secret.Token) error
	// Delete removes the token stored under name, or returns an error
	// matching ErrNotFound when there is none.
	Delete(ctx context.Context, name string) error
	// Kind names the backend: "keychain", "file" or "memory".
	Kind() string
}

// Backend kinds returned by Store.Kind.
const (
	KindKeychain = "keychain"
	KindFile     = "file"
	KindMemory   = "memory"
)

// Errors returned by the stores, to be checked with errors.Is. The errors
// the stores return wrap these with context (operation, profile name) but
// never with the token.
var (
	// ErrNotFound: no token is stored under that profile name.
	ErrNotFound = errors.New("no token stored for this profile")
	// ErrLocked: the keychain is locked or its unlock prompt was dismissed,
	// or the file vault has not been unlocked.
	ErrLocked = errors.New("the token store is locked")
	// ErrNoKeychain: there is no usable keychain here (no Secret Service,
	// no D-Bus session, or an unsupported platform).
	ErrNoKeychain = errors.New("no keychain is available")
	// ErrBadPassphrase: the passphrase does not open the file vault.
	ErrBadPassphrase = errors.New("wrong passphrase for the vault")
	// ErrInvalidName: the profile name is empty.
	ErrInvalidName = errors.New("invalid profile name")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("the token store is closed")
	// ErrNoVault: the file vault does not exist yet; File.Create makes it.
	ErrNoVault = errors.New("no vault exists yet")
	// ErrVaultExists: File.Create found a vault already there.
	ErrVaultExists = errors.New("a vault already exists")
	// ErrUnsafeVault: the vault path is not a regular file of ours (a
	// symbolic link, another user's file, a device, a FIFO). Nothing is read
	// from it, and its content never reaches an error.
	ErrUnsafeVault = errors.New("the vault path is not a regular file owned by you")
)

// ErrNoSessionBus: there is no D-Bus session bus to reach (no
// DBUS_SESSION_BUS_ADDRESS and no dbus-launch, or an address that does not
// answer), the usual state of a server reached over SSH. It matches
// ErrNoKeychain.
var ErrNoSessionBus error = noKeychainError("no D-Bus session")

// ErrNoSecretService: the D-Bus session answers but nothing on it provides
// the Secret Service (no gnome-keyring or KeePassXC running). It matches
// ErrNoKeychain.
var ErrNoSecretService error = noKeychainError("nothing on the D-Bus session provides the Secret Service")

type noKeychainError string

func (e noKeychainError) Error() string { return string(e) }

// Is makes the specific reasons match ErrNoKeychain.
func (e noKeychainError) Is(target error) bool { return target == ErrNoKeychain }

// ErrTimeout: a keychain call did not return before its deadline, or an
// earlier call that timed out still occupies the keychain.
//
// ErrTimeout also matches ErrLocked. The usual reason a keychain call never
// returns is an unlock prompt that nobody answers (a desktop session reached
// over SSH, a dismissed-but-not-closed dialog), so code that only asks "is it
// locked?" gives the right advice: unlock the keychain. Code that wants to say
// "the keychain did not answer" checks ErrTimeout first.
var ErrTimeout error = timeoutError{}

type timeoutError struct{}

func (timeoutError) Error() string { return "the keychain did not answer in time" }

// Is makes errors.Is(ErrTimeout, ErrLocked) true; see ErrTimeout.
func (timeoutError) Is(target error) bool { return target == ErrLocked }
