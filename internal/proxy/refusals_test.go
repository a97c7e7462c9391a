package proxy

import (
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
