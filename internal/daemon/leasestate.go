package daemon

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hfbroker/hfbroker/internal/atomicfile"
	"github.com/hfbroker/hfbroker/internal/broker"
	"github.com/hfbroker/hfbroker/internal/proxy"
)

// Issue 20 item 7: jobs outlive a daemon restart (an upgrade, a kill -9, a
// crash). The live leases are written to leases.json in the state directory
// after every grant, renewal and end, and a new daemon takes them back: it
// re-checks their processes, brings the proxy back on the same port, and
// recognises the lease tokens its jobs hold. Vault Agent's persistent cache
// is the model: the state on disk is useless without the secret store.
//
// What the file holds: lease metadata (ids, profiles, token fingerprints,
// repos, processes with their start times), the proxy's port, and, for a
// proxy lease, the HMAC-SHA256 of its lease token under a key that lives in
// the token store (broker.LeaseKey), never in this file. No token and no
// lease token is written, and the hash cannot be checked against a guess
// without the store's key. A proxy lease's real token is read again from the
// store.
//
// A daemon that restarts with its file vault locked keeps the restored proxy
// leases but can neither recognise their lease tokens (the key is in the
// vault) nor forward them (nor is the token): until 'hfbroker unlock', a
// lease token that matches no live lease gets 503 with Retry-After, which
// huggingface_hub retries, instead of the 401 that would end the job. After
// the unlock the leases resolve on the next request.

// leaseStateFile is leases.json.
type leaseStateFile struct {
	Version   int          `json:"version"`
	ProxyPort int          `json:"proxy_port,omitempty"`
	KeyID     string       `json:"key_id,omitempty"`
	Leases    []savedLease `json:"leases"`
}

// savedLease is a broker lease and, for a proxy lease, its token's keyed hash.
type savedLease struct {
	broker.SavedLease
	TokenHMAC string `json:"token_hmac,omitempty"`
	// TokenFingerprint is the lease token's secret.Fingerprint (32 bits of
	// its SHA-256), which scan reports lease tokens by.
	TokenFingerprint string `json:"token_fingerprint,omitempty"`
}

const (
	leaseStateVersion = 1
	leaseStateName    = "leases.json"
	// maxSavedLeases bounds the file (about 400 bytes a lease): proxy
	// leases first, then the newest. A burst of more leases than this
	// keeps working; only the excess would not outlive a restart.
	maxSavedLeases = 4096
	// maxLeaseStateBytes bounds what a daemon reads back.
	maxLeaseStateBytes = 4 << 20
)

// keyID names a lease key without revealing it: a daemon that finds
// another key in the store knows the saved hashes are not for it.
func keyID(key []byte) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("hfbroker lease state key id"))
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// readLeaseState reads leases.json. A file that is missing gives nil; one
// that is not a regular file of uid's, that others may read or write, that
// is too large, or that does not parse, is ignored with a log line: the
// leases in it are lost, nothing else (tokens stay in the store).
func readLeaseState(path string, uid int, log *slog.Logger) *leaseStateFile {
	removeStaleStateTemps(path)
	f, err := openStateFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	ignore := func(why string, args ...any) *leaseStateFile {
		log.Warn("lease state ignored: "+why+"; leases of jobs from before the restart are not restored",
			append([]any{"path", path}, args...)...)
		return nil
	}
	if err != nil {
		return ignore("cannot open it", "err", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ignore("cannot stat it", "err", err)
	}
	if !fi.Mode().IsRegular() {
		return ignore("not a regular file", "mode", fi.Mode().String())
	}
	if owner, ok := fileOwner(fi); ok && owner != uid {
		return ignore(fmt.Sprintf("owned by uid %d, not %d", owner, uid))
	}
	if statePermsMeaningful && fi.Mode().Perm()&0o077 != 0 {
		return ignore("group or others may read or write it", "mode", fi.Mode().Perm().String())
	}
	if fi.Size() > maxLeaseStateBytes {
		return ignore("too large", "bytes", fi.Size())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxLeaseStateBytes+1))
	if err != nil {
		return ignore("cannot read it", "err", err)
	}
	var st leaseStateFile
	if err := json.Unmarshal(data, &st); err != nil {
		// json's error quotes no content, only offsets and types.
		return ignore("corrupt or truncated", "err", err)
	}
	if st.Version != leaseStateVersion {
		return ignore(fmt.Sprintf("version %d, not %d", st.Version, leaseStateVersion))
	}
	if len(st.Leases) > maxSavedLeases {
		st.Leases = st.Leases[:maxSavedLeases]
	}
	return &st
}

// removeStaleStateTemps removes the temporary files of writes that a kill
// cut short: the state is the renamed file, never a temporary one.
func removeStaleStateTemps(path string) {
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*"))
	for _, m := range matches {
		os.Remove(m)
	}
}

// leaseState writes leases.json. Writes are grouped: a grant asks for a
// write and, for a proxy lease, waits for one that started after it asked
// (its job must be able to outlive a kill -9 from the moment it has its
// token); ends and env grants do not wait. One goroutine writes, asleep
// while nothing changes.
type leaseState struct {
	path string
	log  *slog.Logger
	// snapshot returns what to write; set before start.
	snapshot func() leaseStateFile

	mu      sync.Mutex
	cond    *sync.Cond
	want    uint64 // writes asked for
	done    uint64 // writes finished: every ask up to done is on disk
	stopped bool
	trimmed bool // the bound was hit (logged once)
	waiters int  // callers of changed(true) not yet answered
	kick    chan struct{}
	urgent  chan struct{} // a waiter or stop: write now, not after minWriteGap
	exited  chan struct{}
}

// minWriteGap spaces out the writes nobody waits for: in a burst of
// thousands of env leases the file is rewritten ten times a second, not
// once per lease. A write a proxy grant waits for goes at once.
const minWriteGap = 100 * time.Millisecond

func newLeaseState(path string, log *slog.Logger) *leaseState {
	s := &leaseState{path: path, log: log, kick: make(chan struct{}, 1), urgent: make(chan struct{}, 1), exited: make(chan struct{})}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// start runs the writer until stop.
func (s *leaseState) start() {
	go func() {
		defer close(s.exited)
		var last time.Time
		for range s.kick {
			s.mu.Lock()
			hurry := s.waiters > 0 || s.stopped
			s.mu.Unlock()
			if d := time.Until(last.Add(minWriteGap)); d > 0 && !hurry {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-s.urgent:
				}
				t.Stop()
			}
			last = time.Now()
			s.mu.Lock()
			g, stopped := s.want, s.stopped
			s.mu.Unlock()
			s.write()
			s.mu.Lock()
			s.done = max(s.done, g)
			s.cond.Broadcast()
			s.mu.Unlock()
			if stopped {
				return
			}
		}
	}()
}

// changed asks for a write; with wait, it returns once one that started
// after the call is on disk (or the writer has stopped).
func (s *leaseState) changed(wait bool) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.want++
	g := s.want
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	if !wait {
		return
	}
	s.mu.Lock()
	s.waiters++
	s.mu.Unlock()
	select {
	case s.urgent <- struct{}{}:
	default:
	}
	s.mu.Lock()
	for s.done < g && !s.stopped {
		s.cond.Wait()
	}
	s.waiters--
	s.mu.Unlock()
}

// stop writes the state a last time and ends the writer.
func (s *leaseState) stop() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.want++
	s.stopped = true
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default: // a kick is pending: the writer sees stopped when it takes it
	}
	select {
	case s.urgent <- struct{}{}:
	default:
	}
	<-s.exited
	s.mu.Lock()
	s.cond.Broadcast()
	s.mu.Unlock()
}

func (s *leaseState) write() {
	st := s.snapshot()
	st.Version = leaseStateVersion
	if len(st.Leases) > maxSavedLeases {
		// Proxy leases first (their jobs break without them), then newest.
		slices.SortStableFunc(st.Leases, func(a, b savedLease) int {
			return boolRank(b.TokenHMAC != "") - boolRank(a.TokenHMAC != "")
		})
		st.Leases = st.Leases[:maxSavedLeases]
		s.mu.Lock()
		first := !s.trimmed
		s.trimmed = true
		s.mu.Unlock()
		if first {
			s.log.Warn("lease state holds only the newest leases; the rest would not outlive a restart", "max", maxSavedLeases)
		}
	}
	if st.Leases == nil {
		st.Leases = []savedLease{}
	}
	data, err := json.Marshal(st)
	if err == nil {
		if err = os.MkdirAll(filepath.Dir(s.path), 0o700); err == nil {
			err = atomicfile.WriteFile(s.path, data, 0o600)
		}
	}
	if err != nil {
		s.log.Warn("cannot save the lease state; running jobs will not outlive a restart", "err", err)
	}
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// snapshotLeases joins the broker's live leases with the proxy's hashes.
func snapshotLeases(b *broker.Broker, px *proxyManager) leaseStateFile {
	saved := b.SavedLeases()
	port, kid, sums := px.persisted()
	st := leaseStateFile{ProxyPort: port, KeyID: kid, Leases: make([]savedLease, 0, len(saved))}
	for _, l := range saved {
		sl := savedLease{SavedLease: l}
		if l.Purpose == broker.PurposeProxy {
			sum, ok := sums[l.ID]
			if !ok {
				continue // not issued yet, or its key is not in the store: it cannot come back
			}
			sl.TokenHMAC = hex.EncodeToString(sum[:])
			sl.TokenFingerprint = px.TokenFingerprint(l.ID)
		}
		st.Leases = append(st.Leases, sl)
	}
	return st
}

// restoreLeases takes back what a previous daemon saved: the broker
// re-checks every lease, and the proxy comes back on its port with the
// restored proxy leases.
func restoreLeases(st *leaseStateFile, b *broker.Broker, px *proxyManager, log *slog.Logger) {
	if st == nil || len(st.Leases) == 0 {
		return
	}
	sums := map[string]proxy.Sum{}
	fps := map[string]string{}
	saved := make([]broker.SavedLease, 0, len(st.Leases))
	for _, l := range st.Leases {
		if l.Purpose == broker.PurposeProxy {
			raw, err := hex.DecodeString(l.TokenHMAC)
			if err != nil || len(raw) != len(proxy.Sum{}) {
				log.Warn("lease state: a proxy lease has no usable token hash; dropped", "lease", l.ID)
				continue
			}
			sums[l.ID] = proxy.Sum(raw)
			if len(l.TokenFingerprint) <= 16 {
				fps[l.ID] = l.TokenFingerprint
			}
		}
		saved = append(saved, l.SavedLease)
	}
	// Book the saved lease tokens before the broker takes the leases back:
	// one whose job died while no daemon ran (a reboot under a running
	// kernel) ends right there, and its token, which a notebook may hold,
	// must join the ended ones that scan knows.
	px.bookIssued(saved, fps)
	back := b.RestoreLeases(saved)
	var pending []restoredProxyLease
	for _, l := range back {
		if l.Purpose == broker.PurposeProxy {
			pending = append(pending, restoredProxyLease{id: l.ID, sum: sums[l.ID], fingerprint: fps[l.ID], label: l.Label})
		}
	}
	log.Info("leases restored from before the restart", "restored", len(back), "saved", len(st.Leases), "proxy", len(pending))
	if len(pending) > 0 {
		px.restore(st.ProxyPort, st.KeyID, pending)
	}
}
