package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hfbroker/hfbroker/internal/client"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// CompareResult is one interleaved lane-against-echo run (issue 16's p99
// row): short rounds of leases and of echo round trips, alternating, on
// connections opened once, so that load that comes and goes on the machine
// falls on both sides alike.
type CompareResult struct {
	Name          string `json:"name"`
	Kind          string `json:"kind"` // "compare"
	Concurrency   int    `json:"concurrency"`
	Rounds        int    `json:"rounds"`
	CallsPerRound int    `json:"calls_per_round"`
	Errors        int    `json:"errors"`
	FirstError    string `json:"first_error,omitzero"`
	TTL           string `json:"ttl"`

	// Every round's lane and echo latency, in the order they ran.
	LaneRounds []Latency `json:"lane_rounds"`
	EchoRounds []Latency `json:"echo_rounds"`
	// Each round's lane p99 over its echo p99, and their median: the
	// target's measure.
	P99Ratios      []float64 `json:"p99_ratios"`
	MedianP99Ratio float64   `json:"median_p99_ratio"`
	MedianP50Ratio float64   `json:"median_p50_ratio"`
	// With -floor-socket, a third side each round: an echo that also makes
	// a lease's two mandatory system calls (internal/tools/echo -stat
	// -audit), and the median of its p99s and p50s over the echo's.
	FloorRounds         []Latency `json:"floor_rounds,omitempty"`
	MedianFloorP99Ratio float64   `json:"median_floor_p99_ratio,omitzero"`
	MedianFloorP50Ratio float64   `json:"median_floor_p50_ratio,omitzero"`
	// Every call of every round together.
	Lane           Latency `json:"lane"`
	Echo           Latency `json:"echo"`
	PooledP99Ratio float64 `json:"pooled_p99_ratio"`
	// CPU time per call: the daemon's over the lane rounds, and loadgen's
	// own (the clients) over the lane and over the echo rounds.
	DaemonCPUPerLeaseUS float64 `json:"daemon_cpu_us_per_lease"`
	ClientCPUPerLeaseUS float64 `json:"client_cpu_us_per_lease"`
	ClientCPUPerEchoUS  float64 `json:"client_cpu_us_per_echo"`
}

// compareMain measures the lane's Lease against the raw echo, the floor, as
// issue 16 states the target: rounds of -n leases then -n echo round trips
// (the order swaps every round), each side from -c clients on connections
// kept open for the whole run, and it reports the median of the rounds'
// p99 ratios beside the pooled p99s. One long run of each side, a second
// apart, moved from 0.97x to 1.44x between runs on a shared 2-core machine:
// whichever side met a busy moment lost.
func compareMain(args []string) error {
	fs := flag.NewFlagSet("compare", flag.ExitOnError)
	name := fs.String("name", "", "label for the result")
	socket := fs.String("socket", os.Getenv("HFBROKER_SOCKET"), "the daemon's socket")
	echoSocket := fs.String("echo-socket", "", "the echo server's socket (internal/tools/echo)")
	floorSocket := fs.String("floor-socket", "", "optional: a second echo server's socket, one that makes a lease's mandatory system calls (echo -stat -audit), run as a third side")
	conns := fs.Int("c", 16, "concurrent clients on each side, each on its own connection")
	rounds := fs.Int("rounds", 12, "rounds of each side, interleaved")
	count := fs.Int("n", 2000, "calls per round and side")
	ttl := fs.Duration("ttl", 2*time.Second, "lease TTL to request")
	profile := fs.String("profile", "", "profile to lease (default: the default profile)")
	fs.Parse(args)
	switch {
	case *socket == "" || *echoSocket == "":
		return errors.New("pass -socket (or set HFBROKER_SOCKET) and -echo-socket")
	case *conns < 1 || *rounds < 1 || *count < *conns:
		return errors.New("-c and -rounds must be at least 1, and -n at least -c")
	}
	ctx := context.Background()
	dial, mon, pid, err := dialDaemon(ctx, *socket)
	if err != nil {
		return err
	}
	defer mon.Close()

	// Both sides' connections are opened, and used once, before any round.
	lanes := make([]*client.Client, *conns)
	echoes := make([]net.Conn, *conns)
	floors := make([]net.Conn, *conns)
	echoBufs := make([][]byte, *conns)
	msg := make([]byte, echoSize)
	for i := range *conns {
		c, err := dial()
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Status(ctx, &pb.StatusRequest{}); err != nil {
			return fmt.Errorf("warm up client %d: %w", i, err)
		}
		lanes[i] = c
		e, err := net.Dial("unix", *echoSocket)
		if err != nil {
			return fmt.Errorf("dial echo server: %w", err)
		}
		defer e.Close()
		echoes[i], echoBufs[i] = e, make([]byte, echoSize)
		if *floorSocket != "" {
			f, err := net.Dial("unix", *floorSocket)
			if err != nil {
				return fmt.Errorf("dial the floor's echo server: %w", err)
			}
			defer f.Close()
			floors[i] = f
		}
	}
	req := &pb.LeaseRequest{Profile: *profile, Purpose: pb.Purpose_PURPOSE_TOKEN, Ttl: durationpb.New(*ttl)}
	lease := func(w int) error {
		resp, err := lanes[w].Lease(ctx, req)
		if err == nil && resp.GetToken() == "" {
			err = errors.New("lease answered without a token")
		}
		return err
	}
	roundTrip := func(conns []net.Conn) func(int) error {
		return func(w int) error {
			if _, err := conns[w].Write(msg); err != nil {
				return err
			}
			_, err := io.ReadFull(conns[w], echoBufs[w])
			return err
		}
	}
	echo, floor := roundTrip(echoes), roundTrip(floors)
	for w := range *conns {
		if err := echo(w); err != nil {
			return fmt.Errorf("warm up echo %d: %w", w, err)
		}
		if *floorSocket != "" {
			if err := floor(w); err != nil {
				return fmt.Errorf("warm up the floor's echo %d: %w", w, err)
			}
		}
	}

	res := CompareResult{Name: *name, Kind: "compare", Concurrency: *conns, Rounds: *rounds, CallsPerRound: *count, TTL: ttl.String()}
	var laneAll, echoAll []time.Duration
	var daemonCPU, clientLaneCPU, clientEchoCPU time.Duration
	const (
		sideLane = iota
		sideEcho
		sideFloor
	)
	runSide := func(side int) error {
		op := map[int]func(int) error{sideLane: lease, sideEcho: echo, sideFloor: floor}[side]
		d0, err := procCPU(pid)
		if err != nil {
			return err
		}
		c0 := selfCPU()
		ds, errs, firstErr, _ := driveRaw(*conns, *count, 0, op)
		c1 := selfCPU()
		d1, err := procCPU(pid)
		if err != nil {
			return err
		}
		res.Errors += errs
		if firstErr != nil && res.FirstError == "" {
			res.FirstError = firstErr.Error() // the daemon's error text never holds a token
		}
		switch side {
		case sideLane:
			res.LaneRounds = append(res.LaneRounds, summarize(ds))
			laneAll = append(laneAll, ds...)
			daemonCPU += d1 - d0
			clientLaneCPU += c1 - c0
		case sideEcho:
			res.EchoRounds = append(res.EchoRounds, summarize(ds))
			echoAll = append(echoAll, ds...)
			clientEchoCPU += c1 - c0
		case sideFloor:
			res.FloorRounds = append(res.FloorRounds, summarize(ds))
		}
		return nil
	}
	sides := []int{sideLane, sideEcho}
	if *floorSocket != "" {
		sides = append(sides, sideFloor)
	}
	for r := range *rounds {
		// Rotate the order every round, and reverse it every other one:
		// no side always follows another's burst.
		k := r % len(sides)
		order := append(slices.Clone(sides[k:]), sides[:k]...)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, side := range order {
			if err := runSide(side); err != nil {
				return err
			}
		}
	}
	var p50s []float64
	for i := range res.LaneRounds {
		l, e := res.LaneRounds[i], res.EchoRounds[i]
		res.P99Ratios = append(res.P99Ratios, l.P99/e.P99)
		p50s = append(p50s, l.P50/e.P50)
	}
	res.MedianP99Ratio = median(res.P99Ratios)
	res.MedianP50Ratio = median(p50s)
	if len(res.FloorRounds) > 0 {
		var f99, f50 []float64
		for i, f := range res.FloorRounds {
			e := res.EchoRounds[i]
			f99, f50 = append(f99, f.P99/e.P99), append(f50, f.P50/e.P50)
		}
		res.MedianFloorP99Ratio, res.MedianFloorP50Ratio = median(f99), median(f50)
	}
	res.Lane, res.Echo = summarize(laneAll), summarize(echoAll)
	res.PooledP99Ratio = res.Lane.P99 / res.Echo.P99
	calls := float64(len(laneAll))
	res.DaemonCPUPerLeaseUS = us(daemonCPU) / calls
	res.ClientCPUPerLeaseUS = us(clientLaneCPU) / calls
	res.ClientCPUPerEchoUS = us(clientEchoCPU) / float64(len(echoAll))

	fmt.Fprintf(os.Stderr, "compare %s c=%d: %d rounds of %d calls each side, %d errors\n", *name, *conns, *rounds, *count, res.Errors)
	fmt.Fprintf(os.Stderr, "  p99 lane/echo by round: %s\n", fmtRatios(res.P99Ratios))
	fmt.Fprintf(os.Stderr, "  median p99 ratio %.2fx, median p50 ratio %.2fx, pooled p99 %s / %s = %.2fx\n",
		res.MedianP99Ratio, res.MedianP50Ratio, fmtUS(res.Lane.P99), fmtUS(res.Echo.P99), res.PooledP99Ratio)
	if len(res.FloorRounds) > 0 {
		fmt.Fprintf(os.Stderr, "  the floor's echo (a lease's system calls) / echo: median p99 ratio %.2fx, median p50 ratio %.2fx\n",
			res.MedianFloorP99Ratio, res.MedianFloorP50Ratio)
	}
	fmt.Fprintf(os.Stderr, "  CPU per call: daemon %.1f µs per lease; loadgen %.1f µs per lease, %.1f µs per echo\n",
		res.DaemonCPUPerLeaseUS, res.ClientCPUPerLeaseUS, res.ClientCPUPerEchoUS)
	if res.FirstError != "" {
		fmt.Fprintf(os.Stderr, "  first error: %s\n", res.FirstError)
	}
	return emit(res)
}

// median of vs (the mean of the middle two for an even count).
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(vs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fmtRatios(vs []float64) string {
	var b []byte
	for i, v := range vs {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendFloat(b, v, 'f', 2, 64)
	}
	return string(b)
}

// clockTick is Linux's USER_HZ, the unit of /proc/PID/stat's CPU times
// (fixed at 100 by the kernel's ABI).
const clockTick = 10 * time.Millisecond

// procCPU is a process's CPU time so far (all its threads, user and
// system), from /proc/PID/stat: readable for the daemon although it is not
// dumpable.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("read process %d stat: %w", pid, err)
	}
	// The fields after the command's closing parenthesis: state is the
	// first (field 3), utime and stime fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("process %d stat: no command field", pid)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("process %d stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	st, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("process %d stat: %w", pid, err)
	}
	return time.Duration(ut+st) * clockTick, nil
}
