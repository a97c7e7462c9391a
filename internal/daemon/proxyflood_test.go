package daemon

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hfbroker/hfbroker/internal/audit"
	"github.com/hfbroker/hfbroker/internal/broker"
	"github.com/hfbroker/hfbroker/internal/secret"
)

// TestAFloodOfBadProxyRequestsCannotRotateGrantsOutOfTheAuditLog pins issue
// 19 item 6: 120,000 unauthenticated requests to the proxy port in 5 s grew
// the daemon log to 42 MB and rotated every real event out of the audit log.
// Here 5,000 of them, against an audit log rotated at 64 KiB with one old
// file kept (5,000 lines of their own would be about 1 MB), leave the grant
// in place, become one aggregate line, and leave the daemon log under its cap.
func TestAFloodOfBadProxyRequestsCannotRotateGrantsOutOfTheAuditLog(t *testing.T) {
	const (
		flood    = 5000
		logCap   = 32 << 10
		auditCap = 64 << 10
	)
	dir := t.TempDir()
	auditPath := filepath.Join(dir, "audit.jsonl")
	alog, err := audit.Open(auditPath, audit.Options{MaxBytes: auditCap, Keep: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer alog.Close()
	if err := alog.Write(audit.Event{Event: audit.LeaseGranted, LeaseID: "l-real", Profile: "laptop", Purpose: "PROXY"}); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "hfbrokerd.log")
	logw, err := openCappedLog(logPath, logCap, false)
	if err != nil {
		t.Fatal(err)
	}
	defer logw.Close()
	m := newProxyManager(slog.New(slog.NewTextHandler(logw, nil)), alog)
	real := secret.Token("hf_" + strings.Repeat("R", 34))
	_, url, err := m.Issue(broker.Lease{ID: "l-real", Endpoint: "http://127.0.0.1:1", Purpose: broker.PurposeProxy}, real)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4}
	defer tr.CloseIdleConnections()
	bogus := "Bearer hf_" + strings.Repeat("x", 34)
	for i := range flood {
		req, _ := http.NewRequest("GET", url+"/api/whoami-v2", nil)
		req.Header.Set("Authorization", bogus)
		res, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("request %d: status %d, want 401", i, res.StatusCode)
		}
	}
	tr.CloseIdleConnections()
	m.Close(5 * time.Second) // reports the window's count

	evs, err := audit.Read(auditPath, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var granted bool
	var refused, counted, ownLines int64
	for _, ev := range evs {
		switch ev.Event {
		case audit.LeaseGranted:
			granted = granted || ev.LeaseID == "l-real"
		case audit.ProxyRefused:
			refused++
			counted += ev.Count
		case audit.ProxyRequest:
			ownLines++
		}
	}
	if ownLines > 0 {
		t.Errorf("%d requests without a lease have an audit line of their own", ownLines)
	}
	if !granted {
		t.Errorf("the grant was rotated out of the audit log by %d bad requests", flood)
	}
	if refused < 1 || counted != flood {
		t.Errorf("%d proxy.refused lines count %d refusals; want at least one line counting %d", refused, counted, flood)
	}
	var logBytes int64
	for _, p := range []string{logPath, logPath + ".1"} {
		if fi, err := os.Stat(p); err == nil {
			if fi.Size() > logCap {
				t.Errorf("%s is %d bytes, over its cap of %d", filepath.Base(p), fi.Size(), logCap)
			}
			logBytes += fi.Size()
		}
	}
	b, _ := os.ReadFile(logPath)
	if strings.Count(string(b), "\n") > 10 {
		t.Errorf("the daemon log has %d lines (%d bytes) after the flood; want the refusals counted, not logged:\n%.2000s", strings.Count(string(b), "\n"), logBytes, b)
	}
	if strings.Contains(string(b), real.Reveal()) {
		t.Errorf("the daemon log reveals the real token")
	}
}

// TestTheDaemonLogIsCappedAndRotated: whatever writes to it, hfbrokerd.log
// stays under its cap and one older file is kept.
func TestTheDaemonLogIsCappedAndRotated(t *testing.T) {
	const limit = 4 << 10
	path := filepath.Join(t.TempDir(), "hfbrokerd.log")
	w, err := openCappedLog(path, limit, false)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	line := []byte(strings.Repeat("x", 99) + "\n")
	for range 1000 {
		if _, err := w.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{path, path + ".1"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > limit || fi.Size() < limit-int64(len(line)) {
			t.Errorf("%s is %d bytes; want just under %d", filepath.Base(p), fi.Size(), limit)
		}
	}
	if _, err := os.Stat(path + ".2"); err == nil {
		t.Errorf("more than one rotated file is kept")
	}
}

// TestTheDaemonLogIsCappedOnlyWhenStderrIsHfbrokerdLog: an autostarted
// daemon's stderr is hfbrokerd.log (the client opens it), and that file gets
// the cap; any other stderr (a terminal, the journal, a file the user chose)
// is left alone.
func TestTheDaemonLogIsCappedOnlyWhenStderrIsHfbrokerdLog(t *testing.T) {
	state := t.TempDir()
	env := func(k string) string {
		switch k {
		case "HOME":
			return t.TempDir()
		case "XDG_STATE_HOME":
			return state
		}
		return ""
	}
	dir := filepath.Join(state, "hfbroker")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	open := func(name string) *os.File {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	if w := daemonLogFor(env, open("hfbrokerd.log")); w == nil {
		t.Errorf("stderr is hfbrokerd.log but gets no cap")
	} else {
		w.Close()
	}
	if w := daemonLogFor(env, open("mine.log")); w != nil {
		w.Close()
		t.Errorf("a log file of the user's own choosing was taken over")
	}
}
