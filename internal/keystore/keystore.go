// Package keystore owns where tokens rest: the backends of the Store
// interface (internal/storeapi): the OS keychain through go-keyring, an
// age-encrypted file vault for headless machines, and an in-memory map for
// tests.
//
// Only the daemon imports this package. Nothing here caches tokens on behalf
// of callers (the broker does that), and no error produced here ever
// contains a token.
package keystore

import (
	"github.com/hfbroker/hfbroker/internal/secret"
	"github.com/hfbroker/hfbroker/internal/storeapi"
)

// The store's contract lives in internal/storeapi, which the broker
// imports without linking any backend; these are its names.

// Store keeps one token per profile name (storeapi.Store).
type Store = storeapi.Store

// Backend kinds returned by Store.Kind.
const (
	KindKeychain = storeapi.KindKeychain
	KindFile     = storeapi.KindFile
	KindMemory   = storeapi.KindMemory
)

// Errors returned by the stores, to be checked with errors.Is; see storeapi.
var (
	ErrNotFound        = storeapi.ErrNotFound
	ErrLocked          = storeapi.ErrLocked
	ErrNoKeychain      = storeapi.ErrNoKeychain
	ErrBadPassphrase   = storeapi.ErrBadPassphrase
	ErrInvalidName     = storeapi.ErrInvalidName
	ErrClosed          = storeapi.ErrClosed
	ErrNoVault         = storeapi.ErrNoVault
	ErrVaultExists     = storeapi.ErrVaultExists
	ErrUnsafeVault     = storeapi.ErrUnsafeVault
	ErrNoSessionBus    = storeapi.ErrNoSessionBus
	ErrNoSecretService = storeapi.ErrNoSecretService
	ErrTimeout         = storeapi.ErrTimeout
)

// checkName refuses the empty profile name. Callers have already checked the
// full syntax; this only stops an empty key from reaching a backend, where
// go-keyring would happily store a token under user "".
func checkName(name string) error {
	if name == "" {
		return ErrInvalidName
	}
	return nil
}

// checkToken refuses the empty token: storing "" would later read back as a
// present-but-unusable credential.
func checkToken(tok secret.Token) error {
	if tok == "" {
		return secret.ErrEmpty
	}
	return nil
}
