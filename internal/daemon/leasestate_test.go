package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hfbroker/hfbroker/internal/broker"
	"github.com/hfbroker/hfbroker/internal/client"
	"github.com/hfbroker/hfbroker/internal/hub"
	"github.com/hfbroker/hfbroker/internal/hubtest"
	"github.com/hfbroker/hfbroker/internal/keystore"
	"github.com/hfbroker/hfbroker/internal/profilefile"
	"github.com/hfbroker/hfbroker/internal/secret"
	"github.com/hfbroker/hfbroker/internal/testutil"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// Issue 20 item 7: jobs outlive a daemon restart. These tests run whole
// daemons in-process, one after the other on the same HOME; the end-to-end
// story with real processes, SIGTERM and kill -9 is
// cmd/hfbroker/testdata/script/proxy-restart.txtar.

// restartWorld is a HOME, a socket and a fake Hub that successive daemons share.
type restartWorld struct {
	t     *testing.T
	hub   *hubtest.Hub
	token string
	env   map[string]string
	sock  string
	logs  *testutil.SyncBuffer
}

func newRestartWorld(t *testing.T, backend string) *restartWorld {
	hub := hubtest.New(t)
	hub.AddUser("alice", "Alice Example")
	hub.AddOrg(hubtest.OrgSpec{Name: "acme"})
	hub.AddMember("acme", "alice", hubtest.RoleWrite)
	hub.AddRepo(hubtest.RepoSpec{ID: "acme/llm", Private: true})
	tok := hub.AddToken("alice", hubtest.TokenSpec{Role: "write", DisplayName: "laptop"})
	t.Cleanup(hub.Close)
	sockDir, err := os.MkdirTemp("", "hfbr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	return &restartWorld{t: t, hub: hub, token: tok, sock: filepath.Join(sockDir, "d.sock"), logs: &testutil.SyncBuffer{},
		env: map[string]string{"HOME": t.TempDir(), "HFBROKER_BACKEND": backend, "HF_ENDPOINT": hub.URL(),
			"HFBROKER_VAULT_WORK_FACTOR": "10"}}
}

func (w *restartWorld) getenv(k string) string { return w.env[k] }

func (w *restartWorld) statePath() string {
	return filepath.Join(w.env["HOME"], ".local", "state", "hfbroker", leaseStateName)
}

// start runs a daemon until the returned stop is called.
func (w *restartWorld) start() (stop func()) {
	t := w.t
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Env: w.getenv, Socket: w.sock, NoHarden: true, StopTimeout: 5 * time.Second,
			Logger: slog.New(slog.NewTextHandler(w.logs, nil)), Ready: func(string) { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("daemon stopped before serving: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not start")
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func (w *restartWorld) client() *client.Client {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{Env: w.getenv, Socket: w.sock, NoAutostart: true})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { c.Close() })
	return c
}

// hubCall makes the call a job would, with its lease token, through the proxy.
func hubCall(t *testing.T, endpoint, leaseToken string) (int, http.Header, error) {
	t.Helper()
	req, err := http.NewRequest("GET", endpoint+"/api/whoami-v2", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+leaseToken)
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	res.Body.Close()
	return res.StatusCode, res.Header, nil
}

// TestAProxyLeaseOutlivesARestartOnTheSamePortAndWaitsForTheUnlock: a daemon
// on the file vault grants a proxy lease; it stops; the next daemon starts
// locked, brings the proxy back on the same port, answers the job's lease
// token 503 with Retry-After until the unlock, then 200. The state file holds
// neither the token nor the lease token, and is 0600.
func TestAProxyLeaseOutlivesARestartOnTheSamePortAndWaitsForTheUnlock(t *testing.T) {
	checkNoLeaks(t)
	w := newRestartWorld(t, "file")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pass := []byte("correct horse battery staple")

	stop1 := w.start()
	c := w.client()
	if _, err := c.Unlock(ctx, &pb.UnlockRequest{Passphrase: pass, Create: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddToken(ctx, &pb.AddTokenRequest{Token: w.token, Endpoint: w.hub.URL()}); err != nil {
		t.Fatal(err)
	}
	lease, err := c.Lease(ctx, &pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_PROXY,
		Repo: &pb.Repo{Type: pb.RepoType_REPO_TYPE_MODEL, Id: "acme/llm"}})
	if err != nil {
		t.Fatal(err)
	}
	leaseTok, endpoint := lease.GetToken(), lease.GetProxyEndpoint()
	if code, _, err := hubCall(t, endpoint, leaseTok); err != nil || code != 200 {
		t.Fatalf("before the restart: %d %v", code, err)
	}
	// The grant returned only once the state held it.
	assertStateClean(t, w, leaseTok, 1)
	c.Close()
	stop1()
	assertStateClean(t, w, leaseTok, 1)
	if _, _, err := hubCall(t, endpoint, leaseTok); err == nil {
		t.Fatal("the proxy still answers with its daemon stopped")
	}

	stop2 := w.start()
	code, h, err := hubCall(t, endpoint, leaseTok)
	if err != nil {
		t.Fatalf("the restarted daemon's proxy is not on %s: %v\n%s", endpoint, err, w.logs)
	}
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Fatalf("before the unlock: %d, Retry-After %q; want 503 with Retry-After", code, h.Get("Retry-After"))
	}
	c = w.client()
	if _, err := c.Unlock(ctx, &pb.UnlockRequest{Passphrase: pass}); err != nil {
		t.Fatal(err)
	}
	if code, _, err := hubCall(t, endpoint, leaseTok); err != nil || code != 200 {
		t.Fatalf("after the unlock: %d %v\n%s", code, err, w.logs)
	}
	ls, err := c.ListLeases(ctx, &pb.ListLeasesRequest{})
	if err != nil || len(ls.GetLeases()) != 1 || ls.GetLeases()[0].GetId() != lease.GetLeaseId() {
		t.Fatalf("leases after the restart = %v, %v", ls.GetLeases(), err)
	}
	// Another lease token still gets 401.
	other := "hf_" + strings.Repeat("Z", 34)
	if code, _, _ := hubCall(t, endpoint, other); code != 401 {
		t.Fatalf("an unknown lease token got %d, want 401", code)
	}
	// Revoked, the lease is gone from the state too.
	if _, err := c.RevokeLease(ctx, &pb.RevokeLeaseRequest{Id: lease.GetLeaseId()}); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := hubCall(t, endpoint, leaseTok); code != 401 {
		t.Fatalf("a revoked lease's token got %d, want 401", code)
	}
	c.Close()
	stop2()
	assertStateClean(t, w, leaseTok, 0)
	for _, s := range []string{w.token, leaseTok} {
		if strings.Contains(w.logs.String(), s) {
			t.Fatal("the daemon's log holds a token")
		}
	}
}

// assertStateClean checks the lease state: 0600, n leases, and neither the
// real token nor the lease token, in any spelling the file could hold them.
func assertStateClean(t *testing.T, w *restartWorld, leaseTok string, n int) {
	t.Helper()
	data, err := os.ReadFile(w.statePath())
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(w.statePath())
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode %v, want 0600", fi.Mode().Perm())
	}
	for _, s := range []string{w.token, leaseTok, w.token[3:], leaseTok[3:]} {
		if strings.Contains(string(data), s) {
			t.Fatalf("the lease state holds a token:\n%s", data)
		}
	}
	var st leaseStateFile
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Leases) != n {
		t.Fatalf("state holds %d leases, want %d:\n%s", len(st.Leases), n, data)
	}
	for _, l := range st.Leases {
		if l.Purpose == broker.PurposeProxy && (len(l.TokenHMAC) != 64 || st.KeyID == "" || st.ProxyPort == 0 ||
			l.TokenFingerprint != secret.Fingerprint(leaseTok)) {
			t.Fatalf("proxy lease saved without its hash, key id or port:\n%s", data)
		}
	}
}

// TestATakenProxyPortMovesTheProxyAndSaysSo: if another program took the
// proxy's port while the daemon was down, the new daemon listens elsewhere
// and logs it; the old jobs then fail, as they did before restarts were
// survived.
func TestATakenProxyPortMovesTheProxyAndSaysSo(t *testing.T) {
	checkNoLeaks(t)
	w := newRestartWorld(t, "memory")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stop1 := w.start()
	c := w.client()
	if _, err := c.AddToken(ctx, &pb.AddTokenRequest{Token: w.token, Endpoint: w.hub.URL()}); err != nil {
		t.Fatal(err)
	}
	lease, err := c.Lease(ctx, &pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_PROXY})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	stop1()
	addr := strings.TrimPrefix(lease.GetProxyEndpoint(), "http://")
	squat, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer squat.Close()
	w.start()()
	if !strings.Contains(w.logs.String(), "its port before the restart is taken by another program") ||
		!strings.Contains(w.logs.String(), "port="+addr[strings.LastIndex(addr, ":")+1:]) {
		t.Fatalf("no log line about the taken port:\n%s", w.logs)
	}
}

// TestABadLeaseStateIsIgnoredWithALogLineAndLosesNothing: a corrupt,
// truncated, foreign-owned, loosely permitted, symlinked or oversized state
// file is not read; a log line says why; the store and the profiles are
// untouched and the daemon's leases work.
func TestABadLeaseStateIsIgnoredWithALogLineAndLosesNothing(t *testing.T) {
	good, err := json.Marshal(leaseStateFile{Version: leaseStateVersion, ProxyPort: 1234, Leases: []savedLease{{
		SavedLease: broker.SavedLease{ID: "l-0123456789abcdef", Profile: "laptop", Purpose: broker.PurposeExec,
			Follow: broker.FollowTTL, GrantedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}}}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		setup func(path string)
		uid   int
		want  string
	}{
		{"corrupt", func(p string) { os.WriteFile(p, []byte("{\"version\":1,\"leases\":[{]}"), 0o600) }, os.Getuid(), "corrupt or truncated"},
		{"truncated", func(p string) { os.WriteFile(p, good[:len(good)/2], 0o600) }, os.Getuid(), "corrupt or truncated"},
		{"empty", func(p string) { os.WriteFile(p, nil, 0o600) }, os.Getuid(), "corrupt or truncated"},
		{"other version", func(p string) { os.WriteFile(p, []byte(`{"version":99,"leases":[]}`), 0o600) }, os.Getuid(), "version 99"},
		// Owned by another uid: the check is against the uid passed in, so
		// the test needs no root to make a file someone else's.
		{"foreign-owned", func(p string) { os.WriteFile(p, good, 0o600) }, os.Getuid() + 1, fmt.Sprintf("owned by uid %d, not %d", os.Getuid(), os.Getuid()+1)},
		{"group-readable", func(p string) { os.WriteFile(p, good, 0o600); os.Chmod(p, 0o640) }, os.Getuid(), "group or others may read or write it"},
		{"symlink", func(p string) {
			os.WriteFile(p+".real", good, 0o600)
			os.Symlink(p+".real", p)
		}, os.Getuid(), "cannot open it"},
		{"fifo", func(p string) { mkfifo(p) }, os.Getuid(), "not a regular file"},
		{"too large", func(p string) {
			os.WriteFile(p, append(good, make([]byte, maxLeaseStateBytes)...), 0o600)
		}, os.Getuid(), "too large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, leaseStateName)
			tc.setup(path)
			var logs testutil.SyncBuffer
			log := slog.New(slog.NewTextHandler(&logs, nil))

			store := keystore.NewMemory()
			ctx := context.Background()
			fake := hubtest.New(t)
			defer fake.Close()
			fake.AddUser("alice", "Alice Example")
			tok := fake.AddToken("alice", hubtest.TokenSpec{Role: "write", DisplayName: "laptop"})
			b, err := broker.New(broker.Options{Store: store, Hub: hub.New(), Profiles: &profilefile.Store{Path: filepath.Join(dir, "profiles.json")}})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := b.AddToken(ctx, broker.AddRequest{Name: "laptop", Token: secret.Token(tok), Endpoint: fake.URL()}); err != nil {
				t.Fatal(err)
			}
			st := readLeaseState(path, tc.uid, log)
			if st != nil {
				t.Fatalf("read a bad state file: %+v", st)
			}
			if !strings.Contains(logs.String(), "lease state ignored") || !strings.Contains(logs.String(), tc.want) {
				t.Fatalf("log does not say why (want %q):\n%s", tc.want, logs.String())
			}
			restoreLeases(st, b, newProxyManager(log, nil), log)
			if got, err := store.Get(ctx, "laptop"); err != nil || got.Reveal() != tok {
				t.Fatalf("the store lost the token: %v", err)
			}
			if g, err := b.Lease(ctx, broker.LeaseRequest{Purpose: broker.PurposeToken}); err != nil || g.Token.Reveal() != tok {
				t.Fatalf("lease after a bad state file: %v", err)
			}
		})
	}
}

// TestAKillMidWriteLeavesTheOldStateOrTheNew: a write cut short leaves only
// a temporary file beside the state (atomicfile renames a complete file into
// place); the next daemon reads the state and removes the leftover.
func TestAKillMidWriteLeavesTheOldStateOrTheNew(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, leaseStateName)
	s := newLeaseState(path, slog.New(slog.DiscardHandler))
	s.snapshot = func() leaseStateFile { return leaseStateFile{ProxyPort: 4321} }
	s.start()
	s.changed(true)
	s.stop()
	// What a kill during the next write leaves: a partial temporary file.
	leftover := filepath.Join(dir, "."+leaseStateName+".tmp-123")
	if err := os.WriteFile(leftover, []byte(`{"version":1,"proxy_po`), 0o600); err != nil {
		t.Fatal(err)
	}
	st := readLeaseState(path, os.Getuid(), slog.New(slog.DiscardHandler))
	if st == nil || st.ProxyPort != 4321 {
		t.Fatalf("state = %+v, want the last complete write", st)
	}
	if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("leftover temporary file not removed: %v", err)
	}
}

// The state file is bounded: past maxSavedLeases it keeps the proxy leases
// (whose jobs break without them) and then the newest, and says so once.
func TestTheLeaseStateIsBoundedAndKeepsProxyLeasesFirst(t *testing.T) {
	path := filepath.Join(t.TempDir(), leaseStateName)
	var logs testutil.SyncBuffer
	s := newLeaseState(path, slog.New(slog.NewTextHandler(&logs, nil)))
	now := time.Now()
	var all []savedLease
	for i := range maxSavedLeases + 500 {
		l := savedLease{SavedLease: broker.SavedLease{ID: fmt.Sprintf("l-%016x", i), Profile: "laptop", Purpose: broker.PurposeExec,
			Follow: broker.FollowTTL, GrantedAt: now, ExpiresAt: now.Add(time.Hour)}}
		if i%1000 == 999 { // the oldest come last in a snapshot; these are proxy leases
			l.Purpose, l.TokenHMAC = broker.PurposeProxy, strings.Repeat("ab", 32)
		}
		all = append(all, l)
	}
	s.snapshot = func() leaseStateFile { return leaseStateFile{Leases: all} }
	s.start()
	s.changed(true)
	s.changed(true)
	s.stop()
	st := readLeaseState(path, os.Getuid(), slog.New(slog.DiscardHandler))
	if st == nil || len(st.Leases) != maxSavedLeases {
		t.Fatalf("state holds %v leases, want %d", st, maxSavedLeases)
	}
	proxies := 0
	for _, l := range st.Leases {
		if l.TokenHMAC != "" {
			proxies++
		}
	}
	if proxies != (maxSavedLeases+500)/1000 {
		t.Fatalf("%d proxy leases kept, want all %d", proxies, (maxSavedLeases+500)/1000)
	}
	if fi, _ := os.Stat(path); fi.Size() > maxLeaseStateBytes {
		t.Fatalf("state file is %d bytes, over the %d a daemon reads", fi.Size(), maxLeaseStateBytes)
	}
	if n := strings.Count(logs.String(), "lease state holds only the newest leases"); n != 1 {
		t.Fatalf("the bound was logged %d times, want once:\n%s", n, logs.String())
	}
}

// TestAnEndedLeaseTokenIsStillKnownAfterARestart: a kernel's lease token
// saved in a notebook is reported by 'hfbroker scan' as an ended lease
// token, harmless, for endedTokenTTL (README, Notebooks), not only until
// the daemon restarts (a reboot, an upgrade): after one, scan called it
// "not a stored profile" and failed a pre-commit hook.
func TestAnEndedLeaseTokenIsStillKnownAfterARestart(t *testing.T) {
	checkNoLeaks(t)
	w := newRestartWorld(t, "memory")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stop1 := w.start()
	c := w.client()
	if _, err := c.AddToken(ctx, &pb.AddTokenRequest{Token: w.token, Endpoint: w.hub.URL()}); err != nil {
		t.Fatal(err)
	}
	lease, err := c.Lease(ctx, &pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_PROXY, Label: "jupyter kernel k"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.RevokeLease(ctx, &pb.RevokeLeaseRequest{Id: lease.GetLeaseId()}); err != nil {
		t.Fatal(err)
	}
	fp := secret.Fingerprint(lease.GetToken())
	ended := func(c *client.Client) *pb.EndedLeaseToken {
		t.Helper()
		ls, err := c.ListLeases(ctx, &pb.ListLeasesRequest{IncludeEnded: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ls.GetEnded() {
			if e.GetFingerprint() == fp {
				return e
			}
		}
		return nil
	}
	if ended(c) == nil {
		t.Fatal("the ended lease token is not listed before the restart")
	}
	c.Close()
	stop1()
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(w.statePath()), endedTokensName)); err != nil || strings.Contains(string(b), lease.GetToken()) {
		t.Fatalf("state file: %v, or it holds the lease token", err)
	}
	w.start()
	e := ended(w.client())
	if e == nil {
		t.Fatal("after a restart the ended lease token is unknown: scan would call it a real token")
	}
	if e.GetLeaseId() != lease.GetLeaseId() || e.GetLabel() != "jupyter kernel k" || e.GetEndedAt().AsTime().IsZero() {
		t.Errorf("ended token after the restart = %v, want lease %s, its label and when it ended", e, lease.GetLeaseId())
	}
}

// TestALeaseTokenWhoseJobDiedWhileNoDaemonRanIsKnownAsEnded: the machine
// reboots under a running kernel; the next daemon finds its lease's process
// gone and ends the lease, and scan must know its token (in the notebook)
// as an ended lease token, not as an unknown real one.
func TestALeaseTokenWhoseJobDiedWhileNoDaemonRanIsKnownAsEnded(t *testing.T) {
	checkNoLeaks(t)
	w := newRestartWorld(t, "memory")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stop1 := w.start()
	c := w.client()
	if _, err := c.AddToken(ctx, &pb.AddTokenRequest{Token: w.token, Endpoint: w.hub.URL()}); err != nil {
		t.Fatal(err)
	}
	job := exec.Command("sleep", "60")
	if err := job.Start(); err != nil {
		t.Fatal(err)
	}
	defer job.Process.Kill()
	lease, err := c.Lease(ctx, &pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_PROXY, UntilExit: true, Pid: int32(job.Process.Pid), Label: "jupyter kernel k"})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	stop1()
	job.Process.Kill()
	job.Wait()
	w.start()
	ls, err := w.client().ListLeases(ctx, &pb.ListLeasesRequest{IncludeEnded: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls.GetLeases()) != 0 {
		t.Fatalf("leases after the restart: %v, want none (the job died)", ls.GetLeases())
	}
	fp := secret.Fingerprint(lease.GetToken())
	for _, e := range ls.GetEnded() {
		if e.GetFingerprint() == fp && e.GetLeaseId() == lease.GetLeaseId() && e.GetLabel() == "jupyter kernel k" {
			return
		}
	}
	t.Fatalf("ended lease tokens after the restart: %v; want the dead job's (lease %s)", ls.GetEnded(), lease.GetLeaseId())
}
