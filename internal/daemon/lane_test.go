package daemon

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hfbroker/hfbroker/internal/client"
	"github.com/hfbroker/hfbroker/internal/lane"
	"github.com/hfbroker/hfbroker/internal/peercred/grpccred"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
	"github.com/hfbroker/hfbroker/proto/hfbroker/v1/hfbrokerv1grpc"
)

func (d *testDaemon) grpcClient(t *testing.T) hfbrokerv1grpc.BrokerServiceClient {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+d.sock, grpc.WithTransportCredentials(grpccred.NewClientCredentials(uint32(os.Getuid()))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return hfbrokerv1grpc.NewBrokerServiceClient(conn)
}

func (d *testDaemon) laneConn(t *testing.T) *lane.Conn {
	t.Helper()
	nc, err := net.Dial("unix", d.sock)
	if err != nil {
		t.Fatal(err)
	}
	l := lane.NewConn(nc)
	t.Cleanup(func() { l.Close() })
	return l
}

func laneCode(err error) codes.Code {
	if le, ok := errors.AsType[*lane.Error](err); ok {
		return codes.Code(le.Code)
	}
	return codes.Unknown
}

// TestLaneAndGRPCShareOneSocketAndAnswerAlike: the same calls, over the
// lane and over gRPC on the same socket, get the same answers, errors
// included (code, message, ErrorDetail), and both are logged by the same
// interceptor.
func TestLaneAndGRPCShareOneSocketAndAnswerAlike(t *testing.T) {
	checkNoLeaks(t)
	d := startTestDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g, l := d.grpcClient(t), d.laneConn(t)

	// Success: a lease for the caller, and the status.
	var viaLane pb.LeaseResponse
	if err := l.Invoke(ctx, "Lease", &pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_TOKEN}, &viaLane); err != nil {
		t.Fatalf("lane Lease: %v", err)
	}
	viaGRPC, err := g.Lease(ctx, &pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_TOKEN})
	if err != nil {
		t.Fatalf("gRPC Lease: %v", err)
	}
	if viaLane.GetToken() != d.token || viaGRPC.GetToken() != d.token || viaLane.GetProfile() != viaGRPC.GetProfile() {
		t.Fatalf("leases differ: lane profile %q, gRPC profile %q; tokens match: %v, %v",
			viaLane.GetProfile(), viaGRPC.GetProfile(), viaLane.GetToken() == d.token, viaGRPC.GetToken() == d.token)
	}
	if viaLane.GetLeaseId() == viaGRPC.GetLeaseId() {
		t.Fatal("two calls got the same lease id")
	}
	var st pb.StatusResponse
	if err := l.Invoke(ctx, "Status", &pb.StatusRequest{}, &st); err != nil {
		t.Fatal(err)
	}
	if st.GetLeaseCount() < 2 || st.GetSocket() != d.sock {
		t.Fatalf("lane Status = %v; want 2+ live leases on %s", &st, d.sock)
	}

	// Failure: the same code, message and detail both ways.
	req := &pb.LeaseRequest{Profile: "nope", Purpose: pb.Purpose_PURPOSE_TOKEN}
	lerr := l.Invoke(ctx, "Lease", req, new(pb.LeaseResponse))
	_, gerr := g.Lease(ctx, req)
	le, ok := errors.AsType[*lane.Error](lerr)
	if !ok {
		t.Fatalf("lane error is %T %v; want *lane.Error", lerr, lerr)
	}
	gs := status.Convert(gerr)
	var gd *pb.ErrorDetail
	for _, x := range gs.Details() {
		if v, ok := x.(*pb.ErrorDetail); ok {
			gd = v
		}
	}
	if codes.Code(le.Code) != gs.Code() || le.Message != gs.Message() || !proto.Equal(le.Detail, gd) || gd == nil {
		t.Fatalf("lane: %v %q %v\ngRPC: %v %q %v", le.Code, le.Message, le.Detail, gs.Code(), gs.Message(), gd)
	}
	if gs.Code() != codes.NotFound || gd.GetKind() != pb.ErrorDetail_KIND_NOT_FOUND {
		t.Fatalf("unknown profile: %v %v; want NotFound, KIND_NOT_FOUND", gs.Code(), gd.GetKind())
	}

	// One access line per call, whichever way it came.
	if n := strings.Count(d.logs.String(), "method=Lease"); n != 4 {
		t.Fatalf("%d access lines for Lease, want 4:\n%s", n, d.logs)
	}
	if strings.Contains(d.logs.String(), d.token) {
		t.Fatal("the daemon's log holds the token")
	}
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestLaneRefusesBadCallsAndKeepsServing: an unknown method, a request that
// does not decode, a nonsensical timeout each get their status on a
// connection that stays usable; a frame over the size limit and a
// connection that opens with neither the lane's magic nor HTTP/2 are
// dropped; the daemon serves on.
func TestLaneRefusesBadCallsAndKeepsServing(t *testing.T) {
	checkNoLeaks(t)
	d := startTestDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Raw frames, to send what the lane client never would.
	nc, err := net.Dial("unix", d.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	send := func(call *pb.LaneCall, prefix string) {
		t.Helper()
		b, _ := proto.Marshal(call)
		frame := protowire.AppendVarint([]byte(prefix), uint64(len(b)))
		if _, err := nc.Write(append(frame, b...)); err != nil {
			t.Fatal(err)
		}
	}
	br := bufio.NewReader(nc)
	recv := func() *pb.LaneReply {
		t.Helper()
		var r pb.LaneReply
		if err := protodelim.UnmarshalFrom(br, &r); err != nil {
			t.Fatalf("read reply: %v", err)
		}
		return &r
	}
	send(&pb.LaneCall{Method: "Nope"}, lane.Magic)
	head := make([]byte, len(lane.Magic))
	if _, err := io.ReadFull(br, head); err != nil || string(head) != lane.Magic {
		t.Fatalf("the daemon did not open its side with %q: %q, %v", lane.Magic, head, err)
	}
	if r := recv(); codes.Code(r.GetCode()) != codes.Unimplemented || !strings.Contains(r.GetMessage(), `"Nope"`) {
		t.Fatalf("unknown method: %v", r)
	}
	send(&pb.LaneCall{Method: "Lease", Request: []byte{0xff, 0xff}}, "")
	if r := recv(); codes.Code(r.GetCode()) != codes.Internal || len(r.GetResponse()) != 0 {
		t.Fatalf("undecodable request: %v", r)
	}
	send(&pb.LaneCall{Method: "Status", Timeout: durationpb.New(-time.Second)}, "")
	if r := recv(); codes.Code(r.GetCode()) != codes.InvalidArgument {
		t.Fatalf("negative timeout: %v", r)
	}
	send(&pb.LaneCall{Method: "Status", Timeout: durationpb.New(time.Minute)}, "")
	if r := recv(); r.GetCode() != 0 || len(r.GetResponse()) == 0 {
		t.Fatalf("the connection no longer serves after refusals: %v", r)
	}
	// Over the frame limit: the daemon hangs up without reading it all.
	big := protowire.AppendVarint(nil, lane.MaxFrameSize+1)
	if _, err := nc.Write(big); err != nil {
		t.Fatal(err)
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("after an oversized frame: read %v; want EOF", err)
	}

	// Neither magic nor HTTP/2: gRPC refuses it and closes.
	junk, err := net.Dial("unix", d.sock)
	if err != nil {
		t.Fatal(err)
	}
	junk.SetDeadline(time.Now().Add(30 * time.Second))
	junk.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	io.Copy(io.Discard, junk)
	junk.Close()

	// The lane client's own guards: an oversized request is not sent, and
	// a context already over is not either.
	l := d.laneConn(t)
	huge := &pb.AddTokenRequest{Name: strings.Repeat("x", lane.MaxMessageSize)}
	if err := l.Invoke(ctx, "AddToken", huge, new(pb.AddTokenResponse)); laneCode(err) != codes.ResourceExhausted {
		t.Fatalf("oversized request: %v", err)
	}
	over, stop := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer stop()
	if err := l.Invoke(over, "Status", &pb.StatusRequest{}, new(pb.StatusResponse)); laneCode(err) != codes.DeadlineExceeded {
		t.Fatalf("expired context: %v", err)
	}
	var st pb.StatusResponse
	if err := l.Invoke(ctx, "Status", &pb.StatusRequest{}, &st); err != nil || st.GetPid() != int32(os.Getpid()) {
		t.Fatalf("the daemon stopped serving: %v %v", err, &st)
	}
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestLaneCancelBreaksTheConnAndClientRedials: a call abandoned by its
// context leaves its connection unusable (the reply would be out of step),
// and client.Client dials a fresh one for the next call.
func TestLaneCancelBreaksTheConnAndClientRedials(t *testing.T) {
	checkNoLeaks(t)
	d := startTestDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// A listener that never answers stands in for a stuck daemon.
	dir, err := os.MkdirTemp("", "hfbs")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	stuck, err := net.Listen("unix", filepath.Join(dir, "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	go func() {
		c, err := stuck.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	nc, err := net.Dial("unix", stuck.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	l := lane.NewConn(nc)
	short, stop := context.WithTimeout(ctx, 50*time.Millisecond)
	err = l.Invoke(short, "Status", &pb.StatusRequest{}, new(pb.StatusResponse))
	stop()
	if laneCode(err) != codes.DeadlineExceeded || !l.Broken() {
		t.Fatalf("stuck call: %v, broken %v; want DeadlineExceeded and a broken conn", err, l.Broken())
	}
	if err := l.Invoke(ctx, "Status", &pb.StatusRequest{}, new(pb.StatusResponse)); laneCode(err) != codes.Unavailable {
		t.Fatalf("call on a broken conn: %v; want Unavailable", err)
	}
	l.Close()

	c, err := client.Dial(ctx, client.Options{Socket: d.sock, NoAutostart: true, Env: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cancelled, cancelNow := context.WithCancel(ctx)
	cancelNow()
	if _, err := c.Status(cancelled, &pb.StatusRequest{}); laneCode(err) != codes.Canceled {
		t.Fatalf("cancelled call: %v", err)
	}
	if _, err := c.Status(ctx, &pb.StatusRequest{}); err != nil {
		t.Fatalf("call after a cancelled one: %v", err)
	}
	// A closed client stays closed: it does not dial again.
	c.Close()
	if _, err := c.Status(ctx, &pb.StatusRequest{}); laneCode(err) != codes.Unavailable {
		t.Fatalf("call on a closed client: %v; want Unavailable", err)
	}
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestDaemonStopsWithIdleLaneConnections: a CLI holding an idle lane
// connection does not hold up the daemon's stop.
func TestDaemonStopsWithIdleLaneConnections(t *testing.T) {
	checkNoLeaks(t)
	d := startTestDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var conns []*lane.Conn
	for range 3 {
		l := d.laneConn(t)
		if err := l.Invoke(ctx, "Status", &pb.StatusRequest{}, new(pb.StatusResponse)); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, l)
	}
	start := time.Now()
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Fatalf("stop took %v with idle lane connections open; want it well under the 5s stop timeout", took)
	}
	for _, l := range conns {
		if err := l.Invoke(ctx, "Status", &pb.StatusRequest{}, new(pb.StatusResponse)); laneCode(err) != codes.Unavailable {
			t.Fatalf("call after the daemon stopped: %v; want Unavailable", err)
		}
	}
}

// TestLaneNamesADaemonThatOnlySpeaksGRPC: an hfbrokerd older than the lane
// answers the lane's magic with HTTP/2; the client says so at once (and
// does not read that answer as an empty reply, which would make
// 'hfbroker token' print an empty token and succeed).
func TestLaneNamesADaemonThatOnlySpeaksGRPC(t *testing.T) {
	checkNoLeaks(t)
	dir, err := os.MkdirTemp("", "hfbo")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	l, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	served := make(chan struct{})
	go func() { defer close(served); srv.Serve(l) }()
	defer func() { srv.Stop(); <-served }()

	nc, err := net.Dial("unix", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := lane.NewConn(nc)
	defer c.Close() // before the server stops: it waits for connections in their handshake
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = c.Invoke(ctx, "Lease", &pb.LeaseRequest{}, new(pb.LeaseResponse))
	le, ok := errors.AsType[*lane.Error](err)
	if !ok || codes.Code(le.Code) != codes.Unavailable || !strings.Contains(le.Message, "older than this hfbroker") ||
		!strings.Contains(le.Detail.GetHint(), "restart hfbrokerd") {
		t.Fatalf("lane call to a gRPC-only daemon: %#v", err)
	}
}

// TestACallInFlightAtStopIsAnsweredNotHungUp is issue 19's "a reply in
// flight at SIGTERM waits for the daemon's exit": a lane call whose handler
// outlasted the stop's timeout had its connection closed under it, and the
// client, after waiting out the whole stop, was told hfbrokerd "may be
// older than this hfbroker". Now the handler's context is cancelled and the
// call answered Unavailable, saying the daemon stopped, before the daemon
// exits.
func TestACallInFlightAtStopIsAnsweredNotHungUp(t *testing.T) {
	checkNoLeaks(t)
	const stopTimeout = 200 * time.Millisecond
	d := startTestDaemonWith(t, func(o *Options) { o.StopTimeout = stopTimeout })
	// A Hub that holds whoami until the daemon gives up on it.
	arrived := make(chan struct{})
	var once sync.Once
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(arrived) })
		<-r.Context().Done()
	}))
	defer slow.Close()

	l := d.laneConn(t)
	got := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		got <- l.Invoke(ctx, "AddToken", &pb.AddTokenRequest{Token: d.token, Name: "slow", Endpoint: slow.URL}, new(pb.AddTokenResponse))
	}()
	<-arrived // the handler is waiting on the Hub
	stopped := make(chan error, 1)
	go func() { stopped <- d.stop() }()

	err := <-got
	le, ok := errors.AsType[*lane.Error](err)
	if !ok || codes.Code(le.Code) != codes.Unavailable || !strings.Contains(le.Message, "hfbrokerd stopped before the call finished") ||
		!strings.Contains(le.Detail.GetHint(), "run the command again") {
		t.Fatalf("call in flight at stop: %#v; want Unavailable, hfbrokerd stopped before the call finished", err)
	}
	if strings.Contains(le.Message, "older") {
		t.Fatalf("a stopping daemon described as older: %q", le.Message)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if strings.Contains(d.logs.String(), d.token) {
		t.Fatal("the daemon's log holds the token")
	}
}

// chainUnary runs the interceptors in order, the first outermost, each
// seeing the call's info and passing on what the one before it passed,
// and allocates one record per call rather than a closure per interceptor.
func TestChainUnaryRunsInterceptorsInOrderWithOneRecordPerCall(t *testing.T) {
	var trace []string
	ic := func(name string) grpc.UnaryServerInterceptor {
		return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			trace = append(trace, name+":"+info.FullMethod+":"+req.(string))
			resp, err := h(ctx, req.(string)+name)
			trace = append(trace, "/"+name)
			return resp, err
		}
	}
	chain := chainUnary(ic("a"), ic("b"), ic("c"))
	info := &grpc.UnaryServerInfo{FullMethod: "/m"}
	h := func(_ context.Context, req any) (any, error) {
		trace = append(trace, "h:"+req.(string))
		return "r", nil
	}
	resp, err := chain(context.Background(), "x", info, h)
	if err != nil || resp != "r" {
		t.Fatalf("chain = %v, %v; want r, nil", resp, err)
	}
	want := "a:/m:x b:/m:xa c:/m:xab h:xabc /c /b /a"
	if got := strings.Join(trace, " "); got != want {
		t.Fatalf("trace %q, want %q", got, want)
	}

	// An interceptor that calls its handler twice runs the rest of the
	// chain twice.
	trace = nil
	twice := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		h(ctx, req)
		return h(ctx, req)
	}
	if _, err := chainUnary(ic("a"), twice, ic("c"))(context.Background(), "x", info, h); err != nil {
		t.Fatal(err)
	}
	want = "a:/m:x c:/m:xa h:xac /c c:/m:xa h:xac /c /a"
	if got := strings.Join(trace, " "); got != want {
		t.Fatalf("calling a handler twice: trace %q, want %q", got, want)
	}

	// With no interceptors the handler runs alone.
	if resp, _ := chainUnary()(context.Background(), "y", info, h); resp != "r" || trace[len(trace)-1] != "h:y" {
		t.Fatalf("an empty chain did not run the handler: %v %q", resp, trace)
	}

	pass := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		return h(ctx, req)
	}
	quiet := func(context.Context, any) (any, error) { return nil, nil }
	chain = chainUnary(pass, pass, pass, pass)
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() { chain(ctx, nil, info, quiet) }); n > 2 {
		t.Fatalf("%v allocations per call through four interceptors, want at most 2", n)
	}
}
