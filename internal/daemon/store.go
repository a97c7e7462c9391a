package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/hfbroker/hfbroker/internal/broker"
	"github.com/hfbroker/hfbroker/internal/config"
	"github.com/hfbroker/hfbroker/internal/keystore"
)

// store is a keystore backend plus what the daemon needs to manage it.
type store interface {
	keystore.Store
	Locked() bool
	Close() error
}

type keychainStore struct{ *keystore.Keychain }

func (keychainStore) Locked() bool { return false }

type memoryStore struct{ *keystore.Memory }

func (memoryStore) Locked() bool { return false }
func (memoryStore) Close() error { return nil }

type fileStore struct{ *keystore.File }

func (fileStore) Close() error { return nil }

// autoProbeTimeout bounds backend = "auto"'s keychain probe.
const autoProbeTimeout = 2 * time.Second

// openStore opens the configured backend and says why it was chosen.
// HFBROKER_BACKEND overrides config.toml's backend (tests use it).
func openStore(ctx context.Context, cfg *config.Config, paths config.Paths, env config.Env, log *slog.Logger) (store, string, error) {
	backend, why := cfg.Backend, "backend = \""+cfg.Backend+"\" in config.toml"
	if v := env("HFBROKER_BACKEND"); v != "" {
		backend, why = v, "HFBROKER_BACKEND="+v
	}
	if backend == "" {
		backend, why = "auto", "default"
	}
	switch backend {
	case "keychain":
		return keychainStore{keystore.NewKeychain(keychainOptions(env))}, why, nil
	case "memory":
		return memoryStore{keystore.NewMemory()}, why + " (tokens are lost when the daemon stops)", nil
	case "file":
		f, err := keystore.NewFile(paths.VaultFile(), fileOptions(env))
		if err != nil {
			return nil, "", err
		}
		return fileStore{f}, why, nil
	case "auto":
		k := keystore.NewKeychain(keychainOptions(env))
		pctx, cancel := context.WithTimeout(ctx, autoProbeTimeout)
		err := k.Probe(pctx)
		cancel()
		if err == nil {
			return keychainStore{k}, "auto: the keychain (Secret Service) answered", nil
		}
		k.Close()
		log.Info("keychain unusable; using the encrypted file vault", "err", err)
		f, ferr := keystore.NewFile(paths.VaultFile(), fileOptions(env))
		if ferr != nil {
			return nil, "", ferr
		}
		// The raw probe error (godbus's `exec: "dbus-launch": ...`) is in
		// the log line above; status shows what it means.
		return fileStore{f}, "auto: " + keystore.Unusable(err), nil
	}
	return nil, "", fmt.Errorf("unknown backend %q: want auto, keychain, file or memory", backend)
}

// keychainOptions reads HFBROKER_KEYCHAIN_SERVICE, which renames the keychain
// service (default "hfbroker") so tests running side by side do not share items.
func keychainOptions(env config.Env) keystore.KeychainOptions {
	return keystore.KeychainOptions{Service: env("HFBROKER_KEYCHAIN_SERVICE")}
}

// openBackend opens a backend to migrate to. The file vault is unlocked, or
// created when there is none, with passphrase; the keychain must answer a probe.
func openBackend(ctx context.Context, kind string, paths config.Paths, env config.Env, passphrase []byte) (store, error) {
	switch kind {
	case "keychain":
		k := keystore.NewKeychain(keychainOptions(env))
		pctx, cancel := context.WithTimeout(ctx, autoProbeTimeout)
		defer cancel()
		if err := k.Probe(pctx); err != nil {
			k.Close()
			return nil, &broker.Error{Kind: broker.KindKeychain, Msg: "the keychain is not usable", Err: err,
				Hint: "start a Secret Service (gnome-keyring) in your session first"}
		}
		return keychainStore{k}, nil
	case "file":
		f, err := keystore.NewFile(paths.VaultFile(), fileOptions(env))
		if err != nil {
			return nil, err
		}
		if len(passphrase) == 0 {
			return nil, &broker.Error{Kind: broker.KindInvalid, Msg: "moving to the file backend needs the vault's passphrase",
				Hint: "pass --passphrase-file, or run in a terminal to be asked"}
		}
		err = f.Unlock(ctx, passphrase)
		if errors.Is(err, keystore.ErrNoVault) {
			// Moving to a vault that does not exist yet creates it; the CLI
			// asked for the new passphrase twice.
			err = f.Create(ctx, passphrase)
		}
		if err != nil {
			if errors.Is(err, keystore.ErrBadPassphrase) {
				return nil, &broker.Error{Kind: broker.KindAccessDenied, Msg: "wrong passphrase for the existing vault"}
			}
			return nil, err
		}
		return fileStore{f}, nil
	}
	return nil, fmt.Errorf("unknown backend %q", kind)
}

// fileOptions reads HFBROKER_VAULT_WORK_FACTOR, the vault's scrypt work
// factor (log2 N; default age's 18). Tests lower it: every vault write
// derives a key, about a second each at the default.
func fileOptions(env config.Env) keystore.FileOptions {
	var o keystore.FileOptions
	if v, err := strconv.Atoi(env("HFBROKER_VAULT_WORK_FACTOR")); err == nil && v >= 10 && v <= 30 {
		o.WorkFactor = v
	}
	return o
}
