package broker_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hfbroker/hfbroker/internal/audit"
	"github.com/hfbroker/hfbroker/internal/broker"
	"github.com/hfbroker/hfbroker/internal/keystore"
	"github.com/hfbroker/hfbroker/internal/secret"
)

// benchToken is shaped like a classic token; it is never sent anywhere.
var benchToken = secret.Token("hf_" + strings.Repeat("B", 34))

// newBenchBroker returns a broker over the in-memory store with one profile,
// "bench", stored without asking a Hub. withAudit adds the real JSONL audit
// log, which the daemon always has: one line per lease.
func newBenchBroker(b *testing.B, withAudit bool) *broker.Broker {
	b.Helper()
	dir := b.TempDir()
	opts := broker.Options{
		Store:    keystore.NewMemory(),
		Profiles: &broker.MemoryProfiles{},
	}
	if withAudit {
		log, err := audit.Open(filepath.Join(dir, "audit.jsonl"), audit.Options{})
		if err != nil {
			b.Fatalf("open audit log: %v", err)
		}
		b.Cleanup(func() { log.Close() })
		opts.Audit = log
	}
	br, err := broker.New(opts)
	if err != nil {
		b.Fatalf("new broker: %v", err)
	}
	if _, _, err := br.AddToken(context.Background(), broker.AddRequest{
		Name: "bench", Token: benchToken, Endpoint: "https://huggingface.co", NoVerify: true,
	}); err != nil {
		b.Fatalf("add token: %v", err)
	}
	return br
}

// reapEvery bounds the live leases a benchmark piles up: Lease records one
// per call, and the daemon's reaper is not running here.
const reapEvery = 4096

// BenchmarkLease measures the lease path in-process: choice, token read from
// the memory cache, lease record and (in the "audit" case) the audit line.
// The caller has no pid, as in-process tests do, so no /proc reads happen;
// the socket benchmark in internal/daemon has them.
func BenchmarkLease(b *testing.B) {
	for _, tc := range []struct {
		name  string
		audit bool
	}{{"no-audit", false}, {"audit", true}} {
		b.Run(tc.name, func(b *testing.B) {
			br := newBenchBroker(b, tc.audit)
			ctx := context.Background()
			req := broker.LeaseRequest{Profile: "bench", Purpose: broker.PurposeToken, TTL: time.Nanosecond}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				g, err := br.Lease(ctx, req)
				if err != nil {
					b.Fatalf("lease: %v", err)
				}
				if g.Token != benchToken {
					b.Fatal("lease returned the wrong token")
				}
				if i%reapEvery == reapEvery-1 {
					b.StopTimer()
					br.Reap()
					b.StartTimer()
				}
			}
			b.StopTimer()
			br.Reap()
			if n := br.LeaseCount(); n != 0 {
				b.Fatalf("%d leases outlived a 1ns TTL", n)
			}
		})
	}
}

// BenchmarkLeaseParallel is BenchmarkLease from GOMAXPROCS goroutines
// (times -cpu), to show the broker's lock under contention.
func BenchmarkLeaseParallel(b *testing.B) {
	br := newBenchBroker(b, true)
	ctx := context.Background()
	req := broker.LeaseRequest{Profile: "bench", Purpose: broker.PurposeToken, TTL: time.Nanosecond}
	stop := make(chan struct{})
	reaped := make(chan struct{})
	go func() {
		// The daemon's reaper, at its own pace.
		defer close(reaped)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				br.Reap()
			}
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := br.Lease(ctx, req); err != nil {
				b.Errorf("lease: %v", err)
				return
			}
		}
	})
	b.StopTimer()
	close(stop)
	<-reaped
}
