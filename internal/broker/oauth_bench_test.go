package broker_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hfbroker/hfbroker/internal/broker"
	"github.com/hfbroker/hfbroker/internal/hub"
	"github.com/hfbroker/hfbroker/internal/hubtest"
	"github.com/hfbroker/hfbroker/internal/keystore"
	"github.com/hfbroker/hfbroker/internal/secret"
)

// BenchmarkLeaseDuringRefresh (issue 14) measures the latency of leases of a
// classic profile from 16 clients while an OAuth profile's refresh is in
// flight (stalled at the fake Hub for the whole run), against the same load
// with no refresh: a refresh must not stall other profiles' leases. It
// reports p50 and p99 per lease.
func BenchmarkLeaseDuringRefresh(b *testing.B) {
	for _, refreshing := range []bool{false, true} {
		name := "no-refresh"
		if refreshing {
			name = "refresh-in-flight"
		}
		b.Run(name, func(b *testing.B) {
			clk := &clock{t: time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)}
			h := hubtest.New(b)
			h.SetClock(clk.Now)
			h.AddUser("alice", "Alice")
			h.SetOAuthLifetime(20 * time.Second)
			br, err := broker.New(broker.Options{Store: keystore.NewMemory(), Hub: &hub.Client{HTTP: h.Client()},
				Profiles: &broker.MemoryProfiles{}, Now: clk.Now})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			tok := h.AddToken("alice", hubtest.TokenSpec{Role: "write", DisplayName: "laptop"})
			if _, _, err := br.AddToken(ctx, broker.AddRequest{Name: "laptop", Token: secret.Token(tok), Endpoint: h.URL()}); err != nil {
				b.Fatal(err)
			}
			access, refresh, exp := h.IssueOAuth("alice")
			if _, _, err := br.AddToken(ctx, broker.AddRequest{Token: secret.Token(access), Refresh: secret.Token(refresh), ExpiresAt: exp, Endpoint: h.URL()}); err != nil {
				b.Fatal(err)
			}
			var oauthDone sync.WaitGroup
			if refreshing {
				clk.Add(15 * time.Second) // the OAuth token is due
				stalled, release := h.StallRefresh()
				defer func() { release(); oauthDone.Wait() }()
				oauthDone.Go(func() {
					br.Lease(ctx, broker.LeaseRequest{Profile: "oauth-alice", Purpose: broker.PurposeToken, TTL: time.Minute})
				})
				<-stalled
			}
			const clients = 16
			lat := make([][]time.Duration, clients)
			per := max(b.N/clients, 1)
			b.ResetTimer()
			var wg sync.WaitGroup
			for c := range clients {
				wg.Go(func() {
					for i := range per {
						start := time.Now()
						g, err := br.Lease(ctx, broker.LeaseRequest{Profile: "laptop", Purpose: broker.PurposeToken, TTL: time.Minute})
						lat[c] = append(lat[c], time.Since(start))
						if err != nil {
							b.Error(err)
							return
						}
						if i%64 == 0 {
							br.Revoke(g.Lease.ID, broker.Caller{})
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			all := slices.Concat(lat...)
			slices.Sort(all)
			p := func(q float64) float64 { return float64(all[int(q*float64(len(all)-1))].Nanoseconds()) }
			b.ReportMetric(p(0.50), "p50-ns")
			b.ReportMetric(p(0.99), "p99-ns")
			if refreshing {
				if n, _ := h.Refreshes(); n != 0 {
					b.Fatal(fmt.Sprintf("the refresh finished during the run (%d)", n))
				}
			}
		})
	}
}
