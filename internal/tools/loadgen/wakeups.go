package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"

	"github.com/hfbroker/hfbroker/internal/client"
)

// WakeupResult is how often a process was woken over a quiet interval.
type WakeupResult struct {
	Name      string  `json:"name"`
	Kind      string  `json:"kind"` // "wakeups"
	Leases    int     `json:"leases"`
	Seconds   float64 `json:"seconds"`
	Switches  int64   `json:"switches"`
	PerSecond float64 `json:"per_second"`
}

// wakeupsMain counts the context switches of every thread of a process over
// an interval in which nothing asks it for anything: each one is a wake-up
// (a timer, a poll, the runtime's own housekeeping). With -leases it first
// takes that many long leases and holds them (this process stays their
// caller) while it counts.
func wakeupsMain(args []string) error {
	fs := flag.NewFlagSet("wakeups", flag.ExitOnError)
	name := fs.String("name", "", "label for the result")
	pid := fs.Int("pid", 0, "process to watch")
	dur := fs.Duration("d", 30*time.Second, "how long to count")
	leases := fs.Int("leases", 0, "take this many leases first, and hold them while counting")
	ttl := fs.Duration("ttl", 12*time.Hour, "TTL of those leases")
	profile := fs.String("profile", "", "profile to lease")
	socket := fs.String("socket", os.Getenv("HFBROKER_SOCKET"), "the daemon's socket (with -leases)")
	settle := fs.Duration("settle", 15*time.Second, "with -leases, how long to wait after taking them before counting")
	fs.Parse(args)
	if *pid <= 0 {
		return errors.New("-pid is required")
	}
	if *leases > 0 {
		ctx := context.Background()
		c, err := client.Dial(ctx, client.Options{Socket: *socket, NoAutostart: true})
		if err != nil {
			return err
		}
		defer c.Close()
		req := &pb.LeaseRequest{Profile: *profile, Purpose: pb.Purpose_PURPOSE_TOKEN, Ttl: durationpb.New(*ttl)}
		for i := range *leases {
			if _, err := c.Lease(ctx, req); err != nil {
				return fmt.Errorf("lease %d: %w", i, err)
			}
		}
		// Count the daemon holding the leases, not the burst that made
		// them: for some seconds after 1,000 grants the Go runtime hands
		// the burst's memory back to the system, and the connection's
		// goroutines park (per 10 s, measured: 122 wake-ups in the first
		// 10 s, then 0, 0, 22, 0, 0, 8, 0, 0).
		time.Sleep(*settle)
	}
	before, err := contextSwitches(*pid)
	if err != nil {
		return err
	}
	time.Sleep(*dur)
	after, err := contextSwitches(*pid)
	if err != nil {
		return err
	}
	res := WakeupResult{Name: *name, Kind: "wakeups", Leases: *leases, Seconds: dur.Seconds(), Switches: after - before}
	res.PerSecond = float64(res.Switches) / res.Seconds
	fmt.Fprintf(os.Stderr, "wakeups %s pid %d, %d leases: %d context switches in %s (%.2f/s)\n",
		*name, *pid, *leases, res.Switches, dur, res.PerSecond)
	return emit(res)
}

// contextSwitches sums the voluntary and involuntary context switches of
// every thread of pid (/proc/PID/task/*/status).
func contextSwitches(pid int) (int64, error) {
	tasks, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/status")
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("process %d: no threads to read", pid)
	}
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // a thread that just exited
		}
		for line := range strings.Lines(string(b)) {
			k, v, ok := strings.Cut(line, ":")
			if ok && strings.HasSuffix(k, "ctxt_switches") {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				sum += n
			}
		}
	}
	return sum, nil
}
