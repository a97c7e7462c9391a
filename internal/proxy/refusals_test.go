package proxy

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestALeaseHoldersRefusalsAreAuditedUpToABudget: one by one up to the
// budget per window, then counted, so a looping child cannot rotate the
// grants out of the audit log either.
func TestALeaseHoldersRefusalsAreAuditedUpToABudget(t *testing.T) {
	e := newEnv(t)
	lease := e.lease("l-loop", ref(t, "acme/llm"), false)
	const n = DefaultAuditedRefusals + 30
	for range n {
		if res, _ := e.do("POST", "/api/models/acme/llm/commit/main", lease, strings.NewReader("{}")); res.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d, want 403", res.StatusCode)
		}
	}
	s := e.summary()
	audited := 0
	for _, ev := range e.auditEvents() {
		if ev.Denied && ev.LeaseID == "l-loop" {
			audited++
		}
	}
	if audited != DefaultAuditedRefusals || s.Requests != n-DefaultAuditedRefusals {
		t.Errorf("%d audited and %d counted; want %d and %d", audited, s.Requests, DefaultAuditedRefusals, n-DefaultAuditedRefusals)
	}
	if lines := strings.Count(e.logs.String(), "proxy: refused"); lines != DefaultAuditedRefusals {
		t.Errorf("%d refusals logged; want %d", lines, DefaultAuditedRefusals)
	}
}

// TestRefusalsBecomeOneSummaryPerWindow: however many refusals, one report
// per window, and 403s to other uids are written to the first few a second
// only.
func TestRefusalsBecomeOneSummaryPerWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			mu  sync.Mutex
			got []Summary
		)
		tl := newTally(time.Minute, 5, func(s Summary) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, s)
		})
		reports := func() []Summary {
			synctest.Wait()
			mu.Lock()
			defer mu.Unlock()
			return append([]Summary(nil), got...)
		}
		writes := 0
		for range 1000 {
			tl.request(invalidCredentials)
			if tl.connection("connection from uid 65534") {
				writes++
			}
		}
		if writes != refusalWritesPerSecond {
			t.Errorf("%d of 1000 refused connections in one second got a 403; want %d", writes, refusalWritesPerSecond)
		}
		if r := reports(); len(r) != 0 {
			t.Fatalf("reported before the window ended: %+v", r)
		}
		time.Sleep(time.Minute)
		r := reports()
		if len(r) != 1 || r[0].Requests != 1000 || r[0].Connections != 1000 || r[0].End.Sub(r[0].Start) != time.Minute {
			t.Fatalf("after one window: %+v; want one summary of 1000 requests and 1000 connections over a minute", r)
		}
		// A quiet window reports nothing; close reports what is pending.
		time.Sleep(time.Minute)
		if r := reports(); len(r) != 1 {
			t.Fatalf("a quiet window was reported: %+v", r)
		}
		tl.request(invalidCredentials)
		tl.close()
		if r := reports(); len(r) != 2 || r[1].Requests != 1 {
			t.Fatalf("after close: %+v; want the pending refusal reported", r)
		}
	})
}

// TestAnOwnerLookupThatFailsRefusesAndSaysSoOnce: the check fails closed,
// and says why in the log once, not once per connection.
func TestAnOwnerLookupThatFailsRefusesAndSaysSoOnce(t *testing.T) {
	e := newEnv(t)
	l, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	ol := &ownerListener{Listener: l, uid: 1000, tally: e.proxy.tally, log: e.proxy.log,
		owner: func(net.Conn) (uint32, error) { return 0, errors.New("sock_diag: operation not permitted") }}
	srv := NewServer(e.proxy)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ol) }()
	defer func() { _ = srv.Close(); <-done }()
	lease := e.lease("l-1", ref(t, "acme/llm"), false)
	for range 3 {
		// A raw connection: net/http's client would take a 403 that comes
		// before its request for a stray answer on an idle connection.
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(c, "GET /api/whoami-v2 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "+lease+"\r\n\r\n")
		got, _ := io.ReadAll(c) // the 403, then EOF (or a reset)
		c.Close()
		if len(got) > 0 && !strings.HasPrefix(string(got), "HTTP/1.1 403 ") {
			t.Fatalf("answer %q; want a 403 or nothing", got)
		}
	}
	if n := len(e.up.requests()); n != 0 {
		t.Errorf("%d requests reached upstream; want none", n)
	}
	if n := strings.Count(e.logs.String(), "cannot check who connects"); n != 1 {
		t.Errorf("the failing lookup was logged %d times; want once:\n%s", n, e.logs.String())
	}
	if s := e.summary(); s.Connections != 3 {
		t.Errorf("summary = %+v; want 3 connections counted", s)
	}
}
