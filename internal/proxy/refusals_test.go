package proxy

import (
	"net/http"
	"strings"
	"testing"
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
