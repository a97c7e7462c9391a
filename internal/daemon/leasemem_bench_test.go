package daemon_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hfbroker/hfbroker/internal/client"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// BenchmarkDaemonLeaseMemory is the broker's BenchmarkLeaseMemory through
// the whole daemon: 20,000 TOKEN leases taken over the lane from 16 clients
// (as loadgen takes them, its pid known to the daemon and watched), and the
// live heap they add, per lease (B/lease). Everything the daemon keeps for
// a live lease is in it (the broker's lease, its queue entries, anything the
// server, lane, proxy or lease state would keep); the clients share the
// process, but what they allocate per call is garbage by the measurement.
//
//	go test -run '^$' -bench BenchmarkDaemonLeaseMemory -benchtime 1x ./internal/daemon
func BenchmarkDaemonLeaseMemory(b *testing.B) {
	const (
		conns  = 16
		leases = 20000
	)
	req := &pb.LeaseRequest{Profile: "bench", Purpose: pb.Purpose_PURPOSE_TOKEN, Ttl: durationpb.New(time.Hour)}
	var perLease float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		sock := startBenchDaemon(b)
		cs := make([]*client.Client, conns)
		for j := range cs {
			cs[j] = dialBench(b, sock)
			if _, err := cs[j].Lease(context.Background(), req); err != nil { // connect and warm up
				b.Fatalf("warm-up: %v", err)
			}
		}
		before := liveHeap()
		b.StartTimer()
		var next atomic.Int64
		var failed atomic.Value
		var wg sync.WaitGroup
		for _, c := range cs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= leases {
					resp, err := c.Lease(context.Background(), req)
					if err == nil && resp.GetToken() == "" {
						err = errors.New("empty token")
					}
					if err != nil {
						failed.CompareAndSwap(nil, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		b.StopTimer()
		if err, _ := failed.Load().(error); err != nil {
			b.Fatalf("lease: %v", err)
		}
		after := liveHeap()
		for _, c := range cs {
			c.Close()
		}
		perLease += float64(int64(after)-int64(before)) / leases
	}
	b.ReportMetric(perLease/float64(b.N), "B/lease")
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
