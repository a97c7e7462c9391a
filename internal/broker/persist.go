package broker

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hfbroker/hfbroker/internal/audit"
	"github.com/hfbroker/hfbroker/internal/hubapi"
	"github.com/hfbroker/hfbroker/internal/secret"
	"github.com/hfbroker/hfbroker/internal/storeapi"
)

// Issue 20 item 7: jobs outlive a daemon restart. The daemon writes the live
// leases to its state directory (SavedLeases) and a new daemon takes them
// back (RestoreLeases), re-checking each process against pid reuse. What is
// saved holds no token: a lease's token stays in the store, and is read
// again from there (LeaseToken).

// SavedLease is a live lease as the daemon's state file keeps it. It holds
// no token and nothing from which one could be made.
type SavedLease struct {
	ID          string          `json:"id"`
	Profile     string          `json:"profile"`
	Fingerprint string          `json:"fingerprint"`
	Endpoint    string          `json:"endpoint,omitempty"`
	User        string          `json:"user,omitempty"`
	UID         int             `json:"uid"`
	PID         int             `json:"pid,omitempty"`
	Exe         string          `json:"exe,omitempty"`
	Cwd         string          `json:"cwd,omitempty"`
	Repo        *hubapi.RepoRef `json:"repo,omitempty"`
	Access      string          `json:"access,omitempty"`
	Purpose     Purpose         `json:"purpose"`
	Label       string          `json:"label,omitempty"`
	GrantedAt   time.Time       `json:"granted_at"`
	ExpiresAt   time.Time       `json:"expires_at"`
	Follow      Follow          `json:"follow"`
	UntilExit   bool            `json:"until_exit,omitempty"`
	JobStart    uint64          `json:"job_start,omitempty"`
	Members     []SavedProc     `json:"members,omitempty"`
	Repos       []RepoGrant     `json:"repos,omitempty"`
	Public      bool            `json:"public,omitempty"`
}

// SavedProc is one process of a saved lease: its pid and its start time,
// which tells a later daemon whether the pid now names another process.
type SavedProc struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// SavedLeases returns the live leases to save, newest first.
func (b *Broker) SavedLeases() []SavedLease {
	b.mu.Lock()
	var out []SavedLease
	for _, ll := range b.leases {
		if !ll.Persisted() {
			continue
		}
		l := ll.view()
		s := SavedLease{ID: l.ID, Profile: l.Profile, Fingerprint: l.Fingerprint, Endpoint: l.Endpoint, User: l.User,
			UID: l.UID, PID: l.PID, Exe: l.Exe, Cwd: ll.cwd, Repo: l.Repo, Access: accessText(l.Access), Purpose: l.Purpose, Label: l.Label,
			GrantedAt: l.GrantedAt, ExpiresAt: l.ExpiresAt, Follow: l.Follow, UntilExit: l.UntilExit, JobStart: ll.jobStart,
			Repos: slices.Clone(l.Repos), Public: l.Public}
		for _, m := range ll.members {
			s.Members = append(s.Members, SavedProc{PID: m.pid, Start: m.start})
		}
		out = append(out, s)
	}
	b.mu.Unlock()
	// Newest first: a bounded file keeps the leases most likely still live.
	slices.SortFunc(out, func(x, y SavedLease) int {
		if c := y.GrantedAt.Compare(x.GrantedAt); c != 0 {
			return c
		}
		return strings.Compare(y.ID, x.ID)
	})
	return out
}

// RestoreLeases takes back leases a previous daemon saved. A lease comes
// back only if its profile still holds the same token (by fingerprint), its
// TTL has not passed, and one of its processes still runs: a saved process
// counts only if its pid has the saved start time (a reused pid is another
// process); a lease that follows a tree and lost every saved process looks
// for processes that carry its id. The rest end now, audited with their
// cause. It returns the leases taken back.
func (b *Broker) RestoreLeases(saved []SavedLease) []Lease {
	now := b.now()
	var back []Lease
	var ended []*liveLease
	causes := map[string]string{}
	for _, s := range saved {
		l := &liveLease{ID: s.ID, src: &leaseSource{Profile: s.Profile, Fingerprint: s.Fingerprint, Endpoint: s.Endpoint, User: s.User},
			UID: s.UID, PID: s.PID, Exe: s.Exe, cwd: s.Cwd, Repo: s.Repo,
			granted:   s.GrantedAt.UTC().Round(0),
			UntilExit: s.UntilExit, jobStart: s.JobStart, Public: s.Public}
		l.setPurpose(s.Purpose)
		l.setFollow(s.Follow)
		if s.Label != "" {
			l.extra().Label = s.Label
		}
		if s.Repos != nil {
			l.extra().Repos = s.Repos
		}
		expiresAt := s.ExpiresAt.UTC().Round(0)
		if s.Access != "" {
			a, err := parseAccess(s.Access)
			if err != nil || !validSaved(s) {
				b.log.Warn("lease state: a saved lease is malformed; dropped", "lease", s.ID)
				continue
			}
			l.Access = a
		} else if !validSaved(s) {
			b.log.Warn("lease state: a saved lease is malformed; dropped", "lease", s.ID)
			continue
		}
		// The monotonic deadline starts again from the wall clock: the time
		// left is what the wall clock says is left.
		l.deadline = now.Add(expiresAt.Sub(now.Round(0)))
		if !l.deadline.UTC().Round(0).Equal(expiresAt) {
			l.extra().expiresAt = expiresAt // out of a time.Duration's reach from now
		}
		b.mu.Lock()
		_, dup := b.leases[l.ID]
		p, known := b.profiles[l.src.Profile]
		b.mu.Unlock()
		if dup {
			continue
		}
		switch {
		case !known || p.Fingerprint != l.src.Fingerprint:
			ended, causes[l.ID] = append(ended, l), "profile-removed"
			continue
		case b.expired(l, now):
			ended, causes[l.ID] = append(ended, l), "ttl"
			continue
		}
		l.watched = s.Follow == FollowTree || s.Follow == FollowProcess
		if l.watched {
			for _, m := range s.Members {
				if info, held, err := b.proc(m.PID, true); err == nil && info.start == m.Start {
					l.members = append(l.members, procRef{m.PID, m.Start, held})
				} else if err == nil {
					b.releaseWatches([]procRef{{m.PID, info.start, held}}) // another process has the pid now
				}
			}
			if len(l.members) == 0 && s.Follow == FollowTree {
				l.members = b.heirs(l.UID, []string{l.ID}, l.jobStart)[l.ID]
			}
			if len(l.members) == 0 {
				ended, causes[l.ID] = append(ended, l), "exit"
				continue
			}
		}
		b.mu.Lock()
		l.src = b.sourceLocked(*l.src)
		b.leases[l.ID] = l
		b.leaseMax = max(b.leaseMax, len(b.leases))
		b.wakeReaperLocked(l, now)
		back = append(back, l.snapshot())
		b.mu.Unlock()
		b.audit(audit.Event{Event: "lease.restored", LeaseID: l.ID, Profile: l.src.Profile, Fingerprint: l.src.Fingerprint,
			Repo: repoString(l.Repo), Access: accessText(l.Access), Purpose: string(s.Purpose)},
			Caller{UID: l.UID, PID: l.PID, Exe: l.Exe, Cwd: l.cwd, recorded: true})
	}
	for _, l := range ended {
		b.endLeases([]*liveLease{l}, causes[l.ID])
	}
	sortLeases(back)
	return back
}

func validSaved(s SavedLease) bool {
	if !strings.HasPrefix(s.ID, "l-") || len(s.ID) > 64 || len(s.Label) > MaxLabel || s.Profile == "" || s.GrantedAt.IsZero() || s.ExpiresAt.IsZero() {
		return false
	}
	switch s.Purpose {
	case PurposeExec, PurposeGit, PurposeToken, PurposeProxy:
	default:
		return false
	}
	switch s.Follow {
	case FollowTree, FollowProcess, FollowTTL:
	default:
		return false
	}
	return true
}

func parseAccess(s string) (Access, error) {
	switch s {
	case AccessRead.String():
		return AccessRead, nil
	case AccessWrite.String():
		return AccessWrite, nil
	}
	return 0, fmt.Errorf("unknown access %q", s)
}

// leaseKeyName is the store item that holds the key of the lease tokens'
// keyed hashes. A profile name must start with a letter or digit, so no
// profile can be called this.
const leaseKeyName = "_hfbroker-lease-key"

// leaseKeyPrefix marks the item's value, which is not a Hub token.
const leaseKeyPrefix = "hfbroker-lease-key-v1:"

// LeaseKeySize is the length of the lease-token hash key.
const LeaseKeySize = 32

// LeaseKey returns the key the daemon hashes lease tokens with before they
// reach its state file (HMAC-SHA256), kept in the token store beside the
// tokens, so that the state file alone cannot tell a lease token from a
// guess. With create, a store that has no key yet gets a new one. A key that
// lived in the store before a migration is carried into the new store.
func (b *Broker) LeaseKey(ctx context.Context, create bool) ([]byte, error) {
	b.mu.Lock()
	store, cached, from := b.store, b.leaseKey, b.leaseKeyStore
	b.mu.Unlock()
	if cached != nil && from == store {
		return cached, nil
	}
	key, err := readLeaseKey(ctx, store)
	switch {
	case err == nil:
	case errors.Is(err, storeapi.ErrNotFound) && cached != nil:
		key = cached // migrated: the key moves with the tokens
		if err := store.Set(ctx, leaseKeyName, secret.Token(leaseKeyPrefix+base64.RawStdEncoding.EncodeToString(key))); err != nil {
			return nil, err
		}
	case errors.Is(err, storeapi.ErrNotFound) && create:
		key = make([]byte, LeaseKeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := store.Set(ctx, leaseKeyName, secret.Token(leaseKeyPrefix+base64.RawStdEncoding.EncodeToString(key))); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	b.mu.Lock()
	b.leaseKey, b.leaseKeyStore = key, store
	b.mu.Unlock()
	return key, nil
}

func readLeaseKey(ctx context.Context, store Store) ([]byte, error) {
	v, err := store.Get(ctx, leaseKeyName)
	if err != nil {
		return nil, err
	}
	enc, ok := strings.CutPrefix(v.Reveal(), leaseKeyPrefix)
	key, derr := base64.RawStdEncoding.DecodeString(enc)
	if !ok || derr != nil || len(key) != LeaseKeySize {
		return nil, fmt.Errorf("the lease key in the %s store is malformed", store.Kind())
	}
	return key, nil
}

// Persisted says whether the lease is kept across a daemon restart: a job's
// (exec, exec --proxy, a Jupyter kernel), which may run for days. A token
// or git lease belongs to one short command that has its token already;
// saving those would cost a write per 'hfbroker token' and, under load,
// hold the broker while tens of thousands of them are copied.
func (l *Lease) Persisted() bool { return persisted(l.Purpose) }

// Persisted is Lease.Persisted.
func (l *liveLease) Persisted() bool { return persisted(l.Purpose()) }

func persisted(p Purpose) bool { return p == PurposeExec || p == PurposeProxy }

func (b *Broker) leasesChanged() {
	if b.opts.OnLeasesChanged != nil {
		b.opts.OnLeasesChanged()
	}
}
