package proxy

import (
	"bytes"
	"crypto/sha256"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// Issue 20 item 7: a keyed table's sums can be saved and given back to a
// new table with the same key, which then knows the token; under another
// key, or unkeyed, the sum is not the token's SHA-256.
func TestAKeyedTableTakesBackSavedSums(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	tok, _ := NewLeaseToken()
	t1 := NewKeyedTable(key)
	sum := t1.Sum(tok)
	if sum == sha256.Sum256([]byte(tok)) || sum == NewKeyedTable(bytes.Repeat([]byte{8}, 32)).Sum(tok) {
		t.Fatal("a keyed sum is the plain SHA-256 or another key's")
	}
	t2 := NewKeyedTable(key)
	t2.AddSum(sum, Lease{ID: "l-restored"})
	if l, ok := t2.Lookup(tok); !ok || l.ID != "l-restored" {
		t.Fatalf("Lookup after AddSum = %v %v", l.ID, ok)
	}
	other, _ := NewLeaseToken()
	if _, ok := t2.Lookup(other); ok {
		t.Fatal("another token found the restored lease")
	}
}

// waitingLeases has no lease yet, and says so.
type waitingLeases struct{ wait bool }

func (waitingLeases) Lookup(string) (Lease, bool) { return Lease{}, false }
func (w waitingLeases) Waiting() (time.Duration, string, bool) {
	return 3 * time.Second, "waiting for an unlock", w.wait
}

// While restored leases wait for the vault, an unknown lease token gets 503
// with Retry-After (huggingface_hub retries it), not the 401 that would end
// the job; once nothing waits, 401 again.
func TestRequestsWaitWithRetryAfterWhileLeasesWaitForTheUnlock(t *testing.T) {
	tok, _ := NewLeaseToken()
	for _, tc := range []struct {
		wait  bool
		code  int
		after string
	}{{true, http.StatusServiceUnavailable, "3"}, {false, http.StatusUnauthorized, ""}} {
		p := New(Options{Leases: waitingLeases{tc.wait}})
		req := httptest.NewRequest("GET", "http://127.0.0.1:1234/api/whoami-v2", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, req)
		p.Close()
		if rec.Code != tc.code || rec.Header().Get("Retry-After") != tc.after {
			t.Errorf("waiting=%v: %d, Retry-After %q; want %d, %q", tc.wait, rec.Code, rec.Header().Get("Retry-After"), tc.code, tc.after)
		}
	}
}

// ListenOn takes the port asked for when it is free, and another (saying
// so) when it is taken.
func TestListenOnRebindsThePortOrMovesWhenItIsTaken(t *testing.T) {
	l, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l2, moved, err := ListenOn(port)
	if err != nil || !moved || l2.Addr().(*net.TCPAddr).Port == port {
		t.Fatalf("port %d taken: ListenOn = %v moved %v err %v", port, l2, moved, err)
	}
	l2.Close()
	l.Close()
	l3, moved, err := ListenOn(port)
	if err != nil || moved || l3.Addr().String() != "127.0.0.1:"+strconv.Itoa(port) {
		t.Fatalf("port %d free: ListenOn = %v moved %v err %v", port, l3, moved, err)
	}
	l3.Close()
}
