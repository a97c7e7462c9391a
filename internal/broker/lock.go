package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hfbroker/hfbroker/internal/audit"
	"github.com/hfbroker/hfbroker/internal/keystore"
)

// Lockable is a store that is opened with a passphrase: the file vault.
type Lockable interface {
	Lock()
	Unlock(ctx context.Context, passphrase []byte) error
	Locked() bool
	ChangePassphrase(ctx context.Context, oldPass, newPass []byte) error
}

// Locked reports whether the store is locked.
func (b *Broker) Locked() bool {
	l, ok := b.currentStore().(Lockable)
	return ok && l.Locked()
}

// Lock forgets every token held in memory, locks the vault, and ends every
// lease. With the keychain backend the next use reads the keychain again.
func (b *Broker) Lock(caller Caller) int {
	// writeMu: no AddToken or Migrate is half done across a lock.
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	if l, ok := b.currentStore().(Lockable); ok {
		l.Lock()
	}
	b.ForgetTokens()
	n := b.EndAll("lock")
	b.audit(audit.Event{Event: "store.locked"}, caller)
	return n
}

// unlockDelay grows with each wrong passphrase, as ssh-agent's does
// (0.1 s × failures, at most 10 s), so guessing costs time.
func unlockDelay(fails int) time.Duration {
	return min(time.Duration(fails)*100*time.Millisecond, 10*time.Second)
}

// Unlock opens the vault. A wrong passphrase is an error after a delay that
// grows per failure; nothing is rewritten.
func (b *Broker) Unlock(ctx context.Context, passphrase []byte, caller Caller) error {
	l, ok := b.currentStore().(Lockable)
	if !ok {
		return errorf(KindInvalid, "the keychain unlocks with your login; 'hfbroker status' shows the backend",
			"the %s backend has no passphrase to unlock", b.StoreKind())
	}
	if len(passphrase) == 0 {
		return errorf(KindInvalid, "", "empty passphrase")
	}
	err := l.Unlock(ctx, passphrase)
	if errors.Is(err, keystore.ErrBadPassphrase) {
		b.mu.Lock()
		b.unlockFail++
		d := unlockDelay(b.unlockFail)
		b.mu.Unlock()
		b.audit(audit.Event{Event: "store.unlock_failed"}, caller)
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
		return errorf(KindInvalid, "try again; each wrong passphrase makes the next answer slower", "wrong passphrase")
	}
	if err != nil {
		return &Error{Kind: KindKeychain, Msg: "unlock the vault", Err: err}
	}
	b.mu.Lock()
	b.unlockFail = 0
	b.mu.Unlock()
	b.audit(audit.Event{Event: "store.unlocked"}, caller)
	return nil
}

// ChangePassphrase re-encrypts the vault under a new passphrase.
func (b *Broker) ChangePassphrase(ctx context.Context, oldPass, newPass []byte) error {
	l, ok := b.currentStore().(Lockable)
	if !ok {
		return errorf(KindInvalid, "", "the %s backend has no passphrase", b.StoreKind())
	}
	if len(newPass) == 0 {
		return errorf(KindInvalid, "", "empty new passphrase")
	}
	err := l.ChangePassphrase(ctx, oldPass, newPass)
	if errors.Is(err, keystore.ErrBadPassphrase) {
		b.mu.Lock()
		b.unlockFail++
		d := unlockDelay(b.unlockFail)
		b.mu.Unlock()
		time.Sleep(d)
		return errorf(KindInvalid, "", "wrong passphrase")
	}
	if err != nil {
		return &Error{Kind: KindKeychain, Msg: "change the passphrase", Err: err}
	}
	return nil
}

// Migrate copies every token to dst, checks dst holds each one, switches to
// dst, and only then deletes the tokens from the old store. A failure before
// the switch leaves everything where it was.
//
// commit, when set, runs after every token is in dst and before the switch:
// it records the new backend (config.toml). If it fails, nothing switches and
// the copies are taken out of dst again.
func (b *Broker) Migrate(ctx context.Context, dst Store, caller Caller, commit func() error) (int, error) {
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	src := b.currentStore()
	if src.Kind() == dst.Kind() {
		return 0, errorf(KindInvalid, "", "tokens are already in the %s backend", dst.Kind())
	}
	ps, _ := b.Profiles()
	moved := make([]string, 0, len(ps))
	// undo takes the copies out of dst, so a failed migration leaves the
	// tokens only where they were.
	undo := func(names []string) {
		for _, name := range names {
			dst.Delete(ctx, name)
		}
	}
	for _, p := range ps {
		tok, err := b.token(ctx, p.Name)
		if err != nil {
			return 0, fmt.Errorf("read %q from the %s backend: %w", p.Name, src.Kind(), err)
		}
		if err := dst.Set(ctx, p.Name, tok); err != nil {
			undo(moved)
			return 0, b.storeErrorFor(dst, err, p.Name, "store the token in the "+dst.Kind()+" backend")
		}
		got, err := dst.Get(ctx, p.Name)
		if err != nil || got != tok {
			undo(append(moved, p.Name))
			return 0, errorf(KindKeychain, "", "the %s backend did not give back the token of %q; nothing was moved", dst.Kind(), p.Name)
		}
		moved = append(moved, p.Name)
	}
	if commit != nil {
		if err := commit(); err != nil {
			undo(moved)
			return 0, &Error{Kind: KindInternal, Msg: "record the new backend; nothing was moved", Err: err}
		}
	}
	b.mu.Lock()
	b.store = dst
	b.gen++
	b.mu.Unlock()
	for _, name := range moved {
		if err := src.Delete(ctx, name); err != nil && !errors.Is(err, keystore.ErrNotFound) {
			b.log.Warn("token left in the old backend", "profile", name, "backend", src.Kind(), "err", err)
		}
	}
	b.audit(audit.Event{Event: "store.migrated", Reason: src.Kind() + " -> " + dst.Kind()}, caller)
	return len(moved), nil
}

func (b *Broker) storeErrorFor(s Store, err error, name, doing string) error {
	if errors.Is(err, keystore.ErrLocked) && s.Kind() == "file" {
		return &Error{Kind: KindLocked, Msg: "the file vault is locked; give its passphrase"}
	}
	return b.storeError(err, name, doing)
}
