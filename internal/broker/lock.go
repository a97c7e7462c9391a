package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hfbroker/hfbroker/internal/audit"
	"github.com/hfbroker/hfbroker/internal/storeapi"
)

// Lockable is a store that is opened with a passphrase: the file vault.
type Lockable interface {
	Lock()
	// Unlock opens an existing vault; storeapi.ErrNoVault when there is none.
	Unlock(ctx context.Context, passphrase []byte) error
	// Create makes a new vault; storeapi.ErrVaultExists when there is one.
	Create(ctx context.Context, passphrase []byte) error
	Exists() (bool, error)
	Path() string
	Locked() bool
	ChangePassphrase(ctx context.Context, oldPass, newPass []byte) error
}

// Vault describes the file vault for status: whether it exists yet, and
// where. ok is false for a store that has no vault (the keychain).
func (b *Broker) Vault() (exists bool, path string, ok bool) {
	l, ok := b.currentStore().(Lockable)
	if !ok {
		return false, "", false
	}
	exists, err := l.Exists()
	// Something unsafe at the path counts as existing: nobody should be
	// offered to create a vault over it.
	return exists || err != nil, l.Path(), true
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

// passphraseAttempt runs one passphrase check (unlock or change) under the
// throttle. Attempts are serialised (unlockTurn), and each waits out the
// penalty the failures before it earned, so ten parallel guesses cost the
// sum of their delays, not the longest one (issue 19: 10 parallel wrong
// unlocks took 1.4 s in all). A wrong passphrase also delays its own answer.
// A caller that gives up (ctx done) while waiting makes no attempt, and the
// penalty stays for the next one: cancelling cannot buy a faster guess.
//
// The wait uses real timers (time.NewTimer), not Options.Now: the penalty
// is wall time an attacker must spend. Tests drive it with testing/synctest.
func (b *Broker) passphraseAttempt(ctx context.Context, try func() error) (wrong bool, err error) {
	select {
	case b.unlockTurn <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-b.unlockTurn }()
	if err := waitUntil(ctx, b.unlockNext); err != nil {
		return false, err
	}
	err = try()
	if !errors.Is(err, storeapi.ErrBadPassphrase) {
		if err == nil {
			b.mu.Lock()
			b.unlockFail = 0
			b.mu.Unlock()
		}
		return false, err
	}
	b.mu.Lock()
	b.unlockFail++
	d := unlockDelay(b.unlockFail)
	b.mu.Unlock()
	b.unlockNext = time.Now().Add(d)
	// An error here only means the caller left; the answer is the same.
	waitUntil(ctx, b.unlockNext)
	return true, err
}

// waitUntil waits until t or until ctx is done.
func waitUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Unlock opens the vault. A wrong passphrase is an error (access denied: the
// CLI exits 4) after a delay that grows per failure; nothing is rewritten. When no vault exists, create says
// whether to make one encrypted to passphrase (the CLI asked for it twice);
// without create an absent vault is an error, so that a passphrase typed once
// never silently becomes a new vault's. created reports what happened.
func (b *Broker) Unlock(ctx context.Context, passphrase []byte, create bool, caller Caller) (created bool, err error) {
	l, ok := b.currentStore().(Lockable)
	if !ok {
		return false, errorf(KindInvalid, "the keychain unlocks with your login; 'hfbroker status' shows the backend",
			"the %s backend has no passphrase to unlock", b.StoreKind())
	}
	if len(passphrase) == 0 {
		return false, errorf(KindInvalid, "", "empty passphrase")
	}
	wrong, err := b.passphraseAttempt(ctx, func() error {
		err := l.Unlock(ctx, passphrase)
		if create && errors.Is(err, storeapi.ErrNoVault) {
			if err = l.Create(ctx, passphrase); err == nil {
				created = true
			}
		}
		return err
	})
	if wrong {
		b.audit(audit.Event{Event: "store.unlock_failed"}, caller)
		return false, errorf(KindAccessDenied, "try again; each wrong passphrase makes the next answer slower", "wrong passphrase")
	}
	switch {
	case errors.Is(err, storeapi.ErrNoVault):
		return false, errorf(KindInvalid, "run 'hfbroker unlock' in a terminal to create it (you choose its passphrase, typed twice)",
			"there is no vault at %s yet", l.Path())
	case errors.Is(err, storeapi.ErrUnsafeVault):
		return false, &Error{Kind: KindKeychain, Msg: err.Error(), Hint: "move it away; hfbroker reads only a regular file you own at " + l.Path()}
	case err != nil && ctx.Err() != nil:
		return false, errorf(KindInvalid, "", "unlock cancelled")
	case err != nil:
		return false, &Error{Kind: KindKeychain, Msg: "unlock the vault", Err: err}
	}
	if created {
		b.audit(audit.Event{Event: "store.created"}, caller)
	}
	b.audit(audit.Event{Event: "store.unlocked"}, caller)
	return created, nil
}

// ChangePassphrase re-encrypts the vault under a new passphrase. Wrong old
// passphrases are throttled with unlock's (one counter, one queue).
func (b *Broker) ChangePassphrase(ctx context.Context, oldPass, newPass []byte) error {
	l, ok := b.currentStore().(Lockable)
	if !ok {
		return errorf(KindInvalid, "", "the %s backend has no passphrase", b.StoreKind())
	}
	if len(newPass) == 0 {
		return errorf(KindInvalid, "", "empty new passphrase")
	}
	wrong, err := b.passphraseAttempt(ctx, func() error { return l.ChangePassphrase(ctx, oldPass, newPass) })
	if wrong {
		return errorf(KindAccessDenied, "", "wrong passphrase")
	}
	if errors.Is(err, storeapi.ErrUnsafeVault) {
		return &Error{Kind: KindKeychain, Msg: err.Error(), Hint: "move it away; hfbroker reads only a regular file you own at " + l.Path()}
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
		tok, err := b.storedToken(ctx, p.Name)
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
		if err := src.Delete(ctx, name); err != nil && !errors.Is(err, storeapi.ErrNotFound) {
			b.log.Warn("token left in the old backend", "profile", name, "backend", src.Kind(), "err", err)
		}
	}
	b.audit(audit.Event{Event: "store.migrated", Reason: src.Kind() + " -> " + dst.Kind()}, caller)
	return len(moved), nil
}

func (b *Broker) storeErrorFor(s Store, err error, name, doing string) error {
	if errors.Is(err, storeapi.ErrLocked) && s.Kind() == "file" {
		return &Error{Kind: KindLocked, Msg: "the file vault is locked; give its passphrase"}
	}
	return b.storeError(err, name, doing)
}
