package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hfbroker/hfbroker/internal/client"
	"github.com/hfbroker/hfbroker/internal/peercred/grpccred"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
	"github.com/hfbroker/hfbroker/proto/hfbroker/v1/hfbrokerv1grpc"
)

// LoadResult is one lease or echo run.
type LoadResult struct {
	Name        string  `json:"name"`
	Kind        string  `json:"kind"`                // "lease" or "echo"
	Transport   string  `json:"transport,omitempty"` // lease: "lane" or "grpc"
	Concurrency int     `json:"concurrency"`
	Calls       int     `json:"calls"`
	Errors      int     `json:"errors"`
	FirstError  string  `json:"first_error,omitzero"`
	WallSeconds float64 `json:"wall_s"`
	Throughput  float64 `json:"per_s"`
	Latency     Latency `json:"latency"`
	TTL         string  `json:"ttl,omitzero"`

	// Daemon samples (lease only): before the load, right after it, and
	// once its leases have expired and its clients are gone.
	Before        *ProcSample `json:"before,omitzero"`
	End           *ProcSample `json:"end,omitzero"`
	Settled       *ProcSample `json:"settled,omitzero"`
	LeasesEnd     int         `json:"leases_end"`
	LeasesSettled int         `json:"leases_settled"`
}

type loadFlags struct {
	name   string
	socket string
	conns  int
	count  int
	dur    time.Duration
}

func (f *loadFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.name, "name", "", "label for the result")
	fs.StringVar(&f.socket, "socket", os.Getenv("HFBROKER_SOCKET"), "unix socket to load")
	fs.IntVar(&f.conns, "c", 1, "concurrent clients, each on its own connection")
	fs.IntVar(&f.count, "n", 0, "total calls (0: run for -d)")
	fs.DurationVar(&f.dur, "d", 0, "run for this long instead of -n calls")
}

func (f *loadFlags) check() error {
	if f.socket == "" {
		return errors.New("no socket: pass -socket or set HFBROKER_SOCKET")
	}
	if f.conns < 1 {
		return errors.New("-c must be at least 1")
	}
	if (f.count > 0) == (f.dur > 0) {
		return errors.New("pass exactly one of -n and -d")
	}
	return nil
}

// drive runs op from conns goroutines, each with its own index, until count
// calls have been made or dur has passed, and times every call.
func drive(conns, count int, dur time.Duration, op func(worker int) error) (lat Latency, calls, errs int, firstErr error, wall time.Duration) {
	all, errs, firstErr, wall := driveRaw(conns, count, dur, op)
	return summarize(all), len(all), errs, firstErr, wall
}

// driveRaw is drive returning every call's latency, sorted.
func driveRaw(conns, count int, dur time.Duration, op func(worker int) error) (all []time.Duration, errs int, firstErr error, wall time.Duration) {
	var next atomic.Int64
	var nerr atomic.Int64
	var once sync.Once
	perWorker := make([][]time.Duration, conns)
	deadline := time.Now().Add(dur)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ds := make([]time.Duration, 0, max(count/conns+1, 1024))
			for {
				if count > 0 {
					if next.Add(1) > int64(count) {
						break
					}
				} else if time.Now().After(deadline) {
					break
				}
				t0 := time.Now()
				err := op(w)
				ds = append(ds, time.Since(t0))
				if err != nil {
					nerr.Add(1)
					once.Do(func() { firstErr = err })
				}
			}
			perWorker[w] = ds
		}()
	}
	wg.Wait()
	wall = time.Since(start)
	all = slices.Concat(perWorker...)
	slices.Sort(all)
	return all, int(nerr.Load()), firstErr, wall
}

func leaseMain(args []string) error {
	fs := flag.NewFlagSet("lease", flag.ExitOnError)
	var lf loadFlags
	lf.register(fs)
	ttl := fs.Duration("ttl", 2*time.Second, "lease TTL to request: leases pile up in the daemon until it passes")
	profile := fs.String("profile", "", "profile to lease (default: the default profile)")
	transport := fs.String("transport", "lane", "lane (the daemon's local lane, as the CLI calls it) or grpc")
	settle := fs.Duration("settle", 0, "after the load, wait up to this long for the leases to expire, then sample the daemon again (0: do not)")
	fs.Parse(args)
	if err := lf.check(); err != nil {
		return err
	}
	ctx := context.Background()
	dial, mon, pid, err := dialDaemon(ctx, lf.socket)
	if err != nil {
		return err
	}
	defer mon.Close()

	// Each worker leases through its own connection: the lane, as the CLI
	// does, or gRPC, as any other client would.
	type leaseFunc func(context.Context, *pb.LeaseRequest) (*pb.LeaseResponse, error)
	clients := make([]leaseFunc, lf.conns)
	var closers []func() error
	closeAll := func() {
		for _, c := range closers {
			c()
		}
		closers = nil
	}
	defer closeAll()
	for i := range clients {
		switch *transport {
		case "lane":
			c, err := dial()
			if err != nil {
				return err
			}
			closers = append(closers, c.Close)
			clients[i] = c.Lease
			if _, err := c.Status(ctx, &pb.StatusRequest{}); err != nil {
				return fmt.Errorf("warm up client %d: %w", i, err)
			}
		case "grpc":
			cc, err := grpc.NewClient("unix://"+lf.socket, grpc.WithTransportCredentials(grpccred.NewClientCredentials(uint32(os.Getuid()))))
			if err != nil {
				return err
			}
			closers = append(closers, cc.Close)
			gc := hfbrokerv1grpc.NewBrokerServiceClient(cc)
			clients[i] = func(ctx context.Context, req *pb.LeaseRequest) (*pb.LeaseResponse, error) { return gc.Lease(ctx, req) }
			// Connect now, outside the timing: gRPC dials lazily.
			if _, err := gc.Status(ctx, &pb.StatusRequest{}); err != nil {
				return fmt.Errorf("warm up client %d: %w", i, err)
			}
		default:
			return fmt.Errorf("-transport %q: want lane or grpc", *transport)
		}
	}
	before, err := readProc(pid)
	if err != nil {
		return err
	}
	req := &pb.LeaseRequest{Profile: *profile, Purpose: pb.Purpose_PURPOSE_TOKEN, Ttl: durationpb.New(*ttl)}
	lat, calls, errs, firstErr, wall := drive(lf.conns, lf.count, lf.dur, func(w int) error {
		resp, err := clients[w](ctx, req)
		if err == nil && resp.GetToken() == "" {
			err = errors.New("lease answered without a token")
		}
		return err
	})
	end, err := readProc(pid)
	if err != nil {
		return err
	}
	res := LoadResult{
		Name: lf.name, Kind: "lease", Transport: *transport, Concurrency: lf.conns, Calls: calls, Errors: errs,
		WallSeconds: wall.Seconds(), Throughput: float64(calls) / wall.Seconds(), Latency: lat,
		TTL: ttl.String(), Before: &before, End: &end,
	}
	if firstErr != nil {
		res.FirstError = firstErr.Error() // the daemon's error text never holds a token
	}
	if st, err := mon.Status(ctx, &pb.StatusRequest{}); err == nil {
		res.LeasesEnd = int(st.GetLeaseCount())
	}
	if *settle > 0 {
		closeAll()
		deadline := time.Now().Add(*settle)
		for {
			st, err := mon.Status(ctx, &pb.StatusRequest{})
			if err != nil {
				return fmt.Errorf("daemon status: %w", err)
			}
			res.LeasesSettled = int(st.GetLeaseCount())
			if res.LeasesSettled == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		time.Sleep(time.Second) // let closed connections' goroutines finish
		s, err := readProc(pid)
		if err != nil {
			return err
		}
		res.Settled = &s
	}
	fmt.Fprintf(os.Stderr, "lease %s c=%d: %d calls, %d errors in %.2fs (%.0f/s)\n  %s\n  daemon before: %s\n  daemon end:    %s\n",
		lf.name, lf.conns, calls, errs, wall.Seconds(), res.Throughput, lat, before, end)
	if res.Settled != nil {
		fmt.Fprintf(os.Stderr, "  daemon settled (%d leases left): %s\n", res.LeasesSettled, res.Settled)
	}
	if firstErr != nil {
		fmt.Fprintf(os.Stderr, "  first error: %v\n", firstErr)
	}
	return emit(res)
}

// echoSize is about the size of a Lease request plus its answer.
const echoSize = 160

// echoMain runs the floor: raw round trips of echoSize bytes on a unix
// socket served by internal/tools/echo, no gRPC, no broker.
func echoMain(args []string) error {
	fs := flag.NewFlagSet("echo", flag.ExitOnError)
	var lf loadFlags
	lf.register(fs)
	fs.Parse(args)
	if err := lf.check(); err != nil {
		return err
	}
	conns := make([]net.Conn, lf.conns)
	bufs := make([][]byte, lf.conns)
	msg := make([]byte, echoSize)
	for i := range conns {
		c, err := net.Dial("unix", lf.socket)
		if err != nil {
			return fmt.Errorf("dial echo server: %w", err)
		}
		defer c.Close()
		conns[i], bufs[i] = c, make([]byte, echoSize)
	}
	lat, calls, errs, firstErr, wall := drive(lf.conns, lf.count, lf.dur, func(w int) error {
		if _, err := conns[w].Write(msg); err != nil {
			return err
		}
		_, err := io.ReadFull(conns[w], bufs[w])
		return err
	})
	res := LoadResult{
		Name: lf.name, Kind: "echo", Concurrency: lf.conns, Calls: calls, Errors: errs,
		WallSeconds: wall.Seconds(), Throughput: float64(calls) / wall.Seconds(), Latency: lat,
	}
	if firstErr != nil {
		res.FirstError = firstErr.Error()
	}
	fmt.Fprintf(os.Stderr, "echo %s c=%d: %d calls, %d errors in %.2fs (%.0f/s)\n  %s\n",
		lf.name, lf.conns, calls, errs, wall.Seconds(), res.Throughput, lat)
	return emit(res)
}

// dialDaemon returns a dialer for the daemon at socket, one connection it
// made (the caller closes it), and the daemon's pid from its status.
func dialDaemon(ctx context.Context, socket string) (dial func() (*client.Client, error), mon *client.Client, pid int, err error) {
	dial = func() (*client.Client, error) {
		return client.Dial(ctx, client.Options{Socket: socket, NoAutostart: true})
	}
	if mon, err = dial(); err != nil {
		return nil, nil, 0, err
	}
	st, err := mon.Status(ctx, &pb.StatusRequest{})
	if err != nil {
		mon.Close()
		return nil, nil, 0, fmt.Errorf("daemon status: %w", err)
	}
	return dial, mon, int(st.GetPid()), nil
}
