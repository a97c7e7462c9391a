package keystore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/hfbroker/hfbroker/internal/secret"
	"github.com/zalando/go-keyring"
)

// DefaultService is the keychain service name items are stored under; the
// profile name is the item's user (account).
const DefaultService = "hfbroker"

// DefaultTimeout bounds each keychain call when KeychainOptions.Timeout is 0.
const DefaultTimeout = 5 * time.Second

// probeUser is the item Probe looks up. The colon cannot appear in a profile
// name, so the probe never reads a real profile's token.
const probeUser = ":probe"

// KeychainOptions configures NewKeychain. The zero value is the production
// setting.
type KeychainOptions struct {
	// Service is the keychain service name; DefaultService when empty. Tests
	// use a unique name per run so runs never see each other's items.
	Service string
	// Timeout bounds each call (together with the context's own deadline);
	// DefaultTimeout when 0.
	Timeout time.Duration
}

// Keychain is a Store in the OS keychain (Secret Service on Linux and the
// BSDs, the login keychain on macOS, Credential Manager on Windows) through
// github.com/zalando/go-keyring.
//
// go-keyring takes no context and can block forever, for instance on a Secret
// Service unlock prompt that nobody answers. So a Keychain runs every call on
// one worker goroutine that owns the keychain: at most one call is ever in
// flight, and at most one goroutine can ever be stuck. A caller whose
// deadline passes gets ErrTimeout at once; while the worker is still stuck in
// that call, later calls fail fast with ErrTimeout instead of queueing behind
// it. The worker recovers by itself if the stuck call ever returns.
//
// A Keychain caches nothing: every Get asks the keychain.
type Keychain struct {
	service string
	timeout time.Duration

	reqs chan *request
	quit chan struct{} // closed by Close
	done chan struct{} // closed when the worker exits

	closeOnce sync.Once

	mu sync.Mutex
	// stuck is closed while a call that some caller gave up on still
	// occupies the worker; a fresh open channel replaces it when the call
	// returns. Waiting callers select on it to fail fast.
	stuck   chan struct{}
	isStuck bool
}

var _ Store = (*Keychain)(nil)

// keyringBackend is the keychain as the worker sees it. Production uses
// go-keyring; tests inject backends that block to exercise the deadlines.
type keyringBackend interface {
	Get(service, user string) (string, error)
	Set(service, user, password string) error
	Delete(service, user string) error
}

// goKeyring calls zalando/go-keyring's package-level functions.
type goKeyring struct{}

func (goKeyring) Get(service, user string) (string, error) { return keyring.Get(service, user) }
func (goKeyring) Set(service, user, password string) error {
	return keyring.Set(service, user, password)
}
func (goKeyring) Delete(service, user string) error { return keyring.Delete(service, user) }

// request is one call handed to the worker.
type request struct {
	fn    func(keyringBackend) (string, error)
	reply chan result // buffered: the worker never blocks on an absent caller
	// finished is set by the worker, under Keychain.mu, once fn returned.
	// It tells a caller whose timer fired at the same moment that the
	// worker is not stuck after all.
	finished bool
}

type result struct {
	val string
	err error
}

// NewKeychain starts a Keychain's worker. Call Close when done with it.
func NewKeychain(opts KeychainOptions) *Keychain {
	return newKeychain(goKeyring{}, opts)
}

func newKeychain(b keyringBackend, opts KeychainOptions) *Keychain {
	if opts.Service == "" {
		opts.Service = DefaultService
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	k := &Keychain{
		service: opts.Service,
		timeout: opts.Timeout,
		reqs:    make(chan *request),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
		stuck:   make(chan struct{}),
	}
	go k.work(b)
	return k
}

// Kind returns "keychain".
func (k *Keychain) Kind() string { return KindKeychain }

// Service returns the keychain service name items are stored under.
func (k *Keychain) Service() string { return k.service }

// Get reads the token stored under name.
func (k *Keychain) Get(ctx context.Context, name string) (secret.Token, error) {
	if err := checkName(name); err != nil {
		return "", fmt.Errorf("read token %q from keychain: %w", name, err)
	}
	v, err := k.do(ctx, func(b keyringBackend) (string, error) { return b.Get(k.service, name) })
	if err != nil {
		return "", fmt.Errorf("read token %q from keychain: %w", name, err)
	}
	return secret.Token(v), nil
}

// Set stores tok under name, replacing any token already there.
func (k *Keychain) Set(ctx context.Context, name string, tok secret.Token) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("store token %q in keychain: %w", name, err)
	}
	if err := checkToken(tok); err != nil {
		return fmt.Errorf("store token %q in keychain: %w", name, err)
	}
	_, err := k.do(ctx, func(b keyringBackend) (string, error) {
		return "", withoutToken(b.Set(k.service, name, tok.Reveal()), tok.Reveal())
	})
	if err != nil {
		return fmt.Errorf("store token %q in keychain: %w", name, err)
	}
	return nil
}

// Delete removes the token stored under name.
func (k *Keychain) Delete(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("delete token %q from keychain: %w", name, err)
	}
	_, err := k.do(ctx, func(b keyringBackend) (string, error) { return "", b.Delete(k.service, name) })
	if err != nil {
		return fmt.Errorf("delete token %q from keychain: %w", name, err)
	}
	return nil
}

// Probe reports whether the keychain answers: it looks up an item that does
// not exist and expects ErrNotFound. The daemon's backend=auto calls it with
// a short deadline (2 s) before choosing the keychain; any error means "do
// not use the keychain", and errors.Is tells why (ErrNoKeychain, ErrLocked,
// ErrTimeout).
func (k *Keychain) Probe(ctx context.Context) error {
	_, err := k.do(ctx, func(b keyringBackend) (string, error) { return b.Get(k.service, probeUser) })
	switch {
	case err == nil, errors.Is(err, ErrNotFound):
		// Found would mean someone stored a probe item; the keychain
		// answered either way.
		return nil
	default:
		return fmt.Errorf("probe keychain: %w", err)
	}
}

// Close stops the worker and waits for it when it is idle. Calls made after
// Close fail with ErrClosed.
//
// A go-keyring call that is stuck (an unanswered prompt) cannot be
// interrupted: Go has no way to cancel it. In that case Close waits at most
// the configured timeout, then returns an error matching ErrTimeout; the
// worker goroutine exits by itself if the call ever returns. Tests that leave
// a call stuck on purpose must tell goleak to ignore that goroutine.
func (k *Keychain) Close() error {
	k.closeOnce.Do(func() { close(k.quit) })
	t := time.NewTimer(k.timeout)
	defer t.Stop()
	select {
	case <-k.done:
		return nil
	case <-t.C:
		return fmt.Errorf("close keychain: a call is still blocked and will be abandoned: %w", ErrTimeout)
	}
}

// work is the worker goroutine: the only goroutine that calls the backend.
func (k *Keychain) work(b keyringBackend) {
	defer close(k.done)
	for {
		// Check quit first so that a closed Keychain takes no new call even
		// when a request is ready at the same moment.
		select {
		case <-k.quit:
			return
		default:
		}
		select {
		case <-k.quit:
			return
		case r := <-k.reqs:
			v, err := r.fn(b)
			k.mu.Lock()
			r.finished = true
			if k.isStuck {
				// The call some caller gave up on has returned: the
				// keychain takes calls again.
				k.isStuck = false
				k.stuck = make(chan struct{})
			}
			k.mu.Unlock()
			r.reply <- result{v, err}
		}
	}
}

// do runs fn on the worker within the call's deadline: the earlier of ctx's
// deadline and the Keychain's timeout.
func (k *Keychain) do(ctx context.Context, fn func(keyringBackend) (string, error)) (string, error) {
	return k.doWithin(ctx, k.timeout, fn)
}

// doWithin is do with an explicit timeout, so tests can give two callers of
// one worker different deadlines.
func (k *Keychain) doWithin(ctx context.Context, timeout time.Duration, fn func(keyringBackend) (string, error)) (string, error) {
	select {
	case <-k.quit:
		return "", ErrClosed
	default:
	}
	k.mu.Lock()
	stuck, isStuck := k.stuck, k.isStuck
	k.mu.Unlock()
	if isStuck {
		return "", fmt.Errorf("an earlier keychain call is still blocked: %w", ErrTimeout)
	}
	if err := ctx.Err(); err != nil {
		return "", ctxError(ctx)
	}

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	r := &request{fn: fn, reply: make(chan result, 1)}

	select {
	case k.reqs <- r:
	case <-stuck:
		return "", fmt.Errorf("an earlier keychain call is still blocked: %w", ErrTimeout)
	case <-timer.C:
		return "", fmt.Errorf("wait for the keychain: %w", ErrTimeout)
	case <-ctx.Done():
		return "", ctxError(ctx)
	case <-k.quit:
		return "", ErrClosed
	}

	select {
	case res := <-r.reply:
		return res.val, classify(res.err)
	case <-timer.C:
		return k.abandon(r, ErrTimeout)
	case <-ctx.Done():
		return k.abandon(r, ctxError(ctx))
	}
}

// abandon gives up on r after the caller's deadline or cancellation. If the
// worker finished r meanwhile, its result wins. Otherwise, on a timeout, the
// worker is marked stuck so that later calls fail fast; a plain cancellation
// says nothing about the keychain, so it does not.
func (k *Keychain) abandon(r *request, err error) (string, error) {
	k.mu.Lock()
	if r.finished {
		k.mu.Unlock()
		res := <-r.reply // sent right after finished was set
		return res.val, classify(res.err)
	}
	if errors.Is(err, ErrTimeout) && !k.isStuck {
		k.isStuck = true
		close(k.stuck)
	}
	k.mu.Unlock()
	return "", err
}

// ctxError maps a done context to the package's errors: a passed deadline is
// an ErrTimeout (the caller's bound is as good as ours), a cancellation stays
// context.Canceled.
func ctxError(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrTimeout, context.DeadlineExceeded)
	}
	return ctx.Err()
}

// classify maps go-keyring's errors to this package's sentinels. Apart from
// ErrNotFound and ErrUnsupportedPlatform, go-keyring returns raw godbus, exec
// and fmt errors, so the Secret Service cases are matched on their text
// (the texts below were observed with go-keyring v0.2.8 and gnome-keyring).
// Unknown errors pass through unchanged.
func classify(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, keyring.ErrNotFound):
		return ErrNotFound
	case errors.Is(err, keyring.ErrUnsupportedPlatform):
		return fmt.Errorf("%w: %v", ErrNoKeychain, err)
	}
	// No session bus to talk to: the address in DBUS_SESSION_BUS_ADDRESS
	// does not answer, or there is none and dbus-launch is missing.
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return fmt.Errorf("%w: connect to the D-Bus session bus: %v", ErrNoSessionBus, err)
	}
	var execErr *exec.Error
	if errors.As(err, &execErr) {
		return fmt.Errorf("%w: %v", ErrNoSessionBus, err)
	}
	msg := err.Error()
	for _, s := range []string{
		"failed to unlock",
		"prompt dismissed",
		"Cannot create an item in a locked collection",
		"org.freedesktop.Secret.Error.IsLocked",
	} {
		if strings.Contains(msg, s) {
			return fmt.Errorf("%w: %v", ErrLocked, err)
		}
	}
	for _, s := range []string{
		"dbus-launch",
		"couldn't determine address of session bus",
		"DBUS_SESSION_BUS_ADDRESS",
		"dbus: authentication failed",
	} {
		if strings.Contains(msg, s) {
			return fmt.Errorf("%w: %v", ErrNoSessionBus, err)
		}
	}
	for _, s := range []string{
		"was not provided by any .service files",
		"org.freedesktop.DBus.Error.ServiceUnknown",
		"No such interface 'org.freedesktop.Secret",
	} {
		if strings.Contains(msg, s) {
			return fmt.Errorf("%w: %v", ErrNoSecretService, err)
		}
	}
	return err
}

// Unusable says, in words for a person, why the keychain cannot be used,
// from the error a call or Probe returned: "no Secret Service on this machine
// (no D-Bus session)" rather than the D-Bus library's
// `exec: "dbus-launch": executable file not found in $PATH`. The raw error
// belongs in the daemon's log, not in what a person reads first.
func Unusable(err error) string {
	switch {
	case err == nil:
		return "the keychain answered"
	case errors.Is(err, ErrNoSessionBus):
		return "no Secret Service on this machine (no D-Bus session)"
	case errors.Is(err, ErrNoSecretService):
		return "no Secret Service on this machine (nothing on the D-Bus session provides it)"
	case errors.Is(err, ErrTimeout):
		return "the keychain did not answer in time"
	case errors.Is(err, ErrLocked):
		return "the keychain is locked"
	case errors.Is(err, ErrNoKeychain):
		return "no keychain on this platform"
	}
	return "the keychain failed"
}

// withoutToken makes sure an error's text does not carry the token. No
// go-keyring backend is known to echo the secret in an error, but a new
// D-Bus service or a future macOS `security` message could, and error text
// ends up in logs.
func withoutToken(err error, tok string) error {
	if err == nil || tok == "" || !strings.Contains(err.Error(), tok) {
		return err
	}
	// Keep the classification, drop the text.
	if c := classify(err); c != err {
		for _, s := range []error{ErrNotFound, ErrLocked, ErrNoKeychain} {
			if errors.Is(c, s) {
				return fmt.Errorf("%w (details withheld: they contained the token)", s)
			}
		}
	}
	return errors.New("keychain error (details withheld: they contained the token)")
}
