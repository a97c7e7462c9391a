package broker

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hfbroker/hfbroker/internal/keystore"
	"github.com/hfbroker/hfbroker/internal/secret"
)

// memLeases is how many leases BenchmarkLeaseMemory holds live: about as
// many as are live at the peak of scripts/bench's 100,000 leases from 256
// clients (2 s TTLs at ~16,000 leases/s), whose peak RSS tracks this.
const memLeases = 20000

// BenchmarkLeaseMemory reports the heap a live lease keeps (B/lease): the
// live heap after a GC with memLeases TOKEN leases held, less the live heap
// before them, over memLeases. It counts everything the broker keeps per
// lease: the lease, its id, the lease map, the reaper's deadline queue and
// its process list. "pid" is a lease as the daemon grants it to loadgen (or
// to `hfbroker token`): the caller's pid is known and watched through a
// pidfd, so the lease lives with that process; "no-pid" is an in-process
// caller. The daemon keeps nothing else for a TOKEN lease: the proxy's book
// and leases.json are for PROXY and EXEC leases.
//
//	go test -run '^$' -bench BenchmarkLeaseMemory -benchtime 3x ./internal/broker
func BenchmarkLeaseMemory(b *testing.B) {
	for _, tc := range []struct {
		name string
		pid  int
	}{{"pid", 4242}, {"no-pid", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			var perLease float64
			for i := 0; i < b.N; i++ {
				perLease += leaseHeap(b, tc.pid, memLeases)
			}
			b.ReportMetric(perLease/float64(b.N), "B/lease")
		})
	}
}

// leaseHeap grants n TOKEN leases to a caller (pid 0: unknown) on a fresh
// broker and returns the live heap they added, per lease. A benchmark's
// timer runs only while the leases are granted.
func leaseHeap(b testing.TB, pid, n int) float64 {
	timer := func(bool) {}
	if bb, ok := b.(*testing.B); ok {
		timer = func(on bool) {
			if on {
				bb.StartTimer()
			} else {
				bb.StopTimer()
			}
		}
	}
	timer(false)
	procs := &fakeProcs{start: map[int]uint64{pid: 777}, ppid: map[int]int{}}
	br, err := New(Options{
		Store:    keystore.NewMemory(),
		Profiles: &MemoryProfiles{},
		Procs:    procs,
		Exits:    newFakeExits(),
		MaxTTL:   time.Hour,
	})
	if err != nil {
		b.Fatal(err)
	}
	tok := secret.Token("hf_" + strings.Repeat("B", 34))
	ctx := context.Background()
	if _, _, err := br.AddToken(ctx, AddRequest{Name: "bench", Token: tok, Endpoint: "https://huggingface.co", NoVerify: true}); err != nil {
		b.Fatal(err)
	}
	req := LeaseRequest{Profile: "bench", Purpose: PurposeToken, TTL: time.Hour, Caller: Caller{UID: 1000, PID: pid}}
	// The first lease reads the token into the cache and the process into
	// the broker's table: the per-lease cost is what comes after.
	if _, err := br.Lease(ctx, req); err != nil {
		b.Fatal(err)
	}
	before := liveHeap()
	timer(true)
	for range n {
		g, err := br.Lease(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if g.Token != tok {
			b.Fatal("lease returned the wrong token")
		}
	}
	timer(false)
	after := liveHeap()
	if got := br.LeaseCount(); got != n+1 {
		b.Fatalf("%d leases live, want %d", got, n+1)
	}
	runtime.KeepAlive(br)
	return float64(after-before) / float64(n)
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// Issue 16: the daemon's peak memory under load follows what a live lease
// keeps. A TOKEN lease on a watched process kept 686 bytes of heap (a
// 480-byte record with every field of every lease, its own copy of the
// profile's strings, an empty repo list, 64 bytes of reaper queue); it keeps
// under 400 now (297 when this was written).
func TestALiveLeaseKeepsLittleMemory(t *testing.T) {
	got := leaseHeap(t, 4242, 10000)
	t.Logf("%.0f bytes of heap per live lease", got)
	if got > 400 {
		t.Errorf("a live lease keeps %.0f bytes of heap; want at most 400", got)
	}
}
