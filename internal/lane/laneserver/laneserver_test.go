//go:build unix

package laneserver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hfbroker/hfbroker/internal/lane"
	"github.com/hfbroker/hfbroker/internal/peercred/grpccred"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// statusHandler is a generated-style unary handler for one method.
func statusHandler(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
	var req pb.StatusRequest
	if err := dec(&req); err != nil {
		return nil, err
	}
	h := func(context.Context, any) (any, error) { return &pb.StatusResponse{Backend: "memory"}, nil }
	if ic == nil {
		return h(ctx, &req)
	}
	return ic(ctx, &req, &grpc.UnaryServerInfo{FullMethod: "/hfbroker.v1.BrokerService/Status"}, h)
}

func newTestServer() *Server {
	log := slog.New(slog.DiscardHandler)
	guard := grpccred.NewGuard(uint32(os.Getuid()), log)
	desc := &grpc.ServiceDesc{ServiceName: "hfbroker.v1.BrokerService", Methods: []grpc.MethodDesc{{MethodName: "Status", Handler: statusHandler}}}
	return New(desc, struct{}{}, guard.Unary, guard, 2*time.Second, log)
}

// socketPair returns both ends of a connected unix stream socket, which
// carries peer credentials as the daemon's socket does.
func socketPair(t testing.TB) (client, server *net.UnixConn) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0) // no SOCK_CLOEXEC: macOS has none (vetted there)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "lane")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c.(*net.UnixConn)
	}
	return conn(fds[0]), conn(fds[1])
}

// exchange serves one connection that sends in (after the magic, which the
// splitter consumes) and returns all the server wrote back.
func exchange(t testing.TB, s *Server, in []byte) []byte {
	t.Helper()
	c, sc := socketPair(t)
	defer c.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(sc, bufio.NewReader(sc))
	}()
	go func() {
		c.Write(in)
		c.CloseWrite()
	}()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	out, err := io.ReadAll(c)
	// A server that ends the connection (a malformed frame, another uid's
	// call) while bytes the peer sent are still unread resets it: the
	// kernel hands over every reply written before, then ECONNRESET where
	// EOF would be.
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read the replies: %v", err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its peer closed")
	}
	return out
}

// replies checks the server's bytes: the magic, then whole LaneReply frames.
func replies(t testing.TB, out []byte) []*pb.LaneReply {
	t.Helper()
	if len(out) == 0 {
		return nil
	}
	if !bytes.HasPrefix(out, []byte(lane.Magic)) {
		t.Fatalf("the answer does not open with the magic: %q", out)
	}
	r := bufio.NewReader(bytes.NewReader(out[len(lane.Magic):]))
	var got []*pb.LaneReply
	for {
		var rep pb.LaneReply
		err := protodelim.UnmarshalOptions{MaxSize: lane.MaxFrameSize}.UnmarshalFrom(r, &rep)
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatalf("a reply does not parse: %v", err)
		}
		if rep.GetCode() == int32(codes.OK) && (rep.GetMessage() != "" || rep.GetStatus() != nil) {
			t.Fatalf("a successful reply carries an error: %v", &rep)
		}
		// An error carries the whole google.rpc.Status, and the summary
		// fields older clients read agree with it.
		if st := rep.GetStatus(); rep.GetCode() != int32(codes.OK) && (st == nil || st.GetCode() != rep.GetCode() || st.GetMessage() != rep.GetMessage()) {
			t.Fatalf("error reply %v does not carry its status", &rep)
		}
		got = append(got, &rep)
	}
}

func frame(call *pb.LaneCall) []byte {
	b, _ := proto.Marshal(call)
	return append(protowire.AppendVarint(nil, uint64(len(b))), b...)
}

func TestServeAnswersEachCallInOrder(t *testing.T) {
	s := newTestServer()
	defer s.Stop(time.Second)
	in := append(frame(&pb.LaneCall{Method: "Status"}), frame(&pb.LaneCall{Method: "Nope"})...)
	in = append(in, frame(&pb.LaneCall{Method: "Status", Timeout: &durationpb.Duration{Seconds: -1}})...)
	in = append(in, frame(&pb.LaneCall{Method: "Status", Request: []byte{0xff}})...)
	got := replies(t, exchange(t, s, in))
	want := []codes.Code{codes.OK, codes.Unimplemented, codes.InvalidArgument, codes.Internal}
	if len(got) != len(want) {
		t.Fatalf("%d replies, want %d", len(got), len(want))
	}
	for i, r := range got {
		if codes.Code(r.GetCode()) != want[i] {
			t.Errorf("reply %d: %v %q, want %v", i, codes.Code(r.GetCode()), r.GetMessage(), want[i])
		}
	}
	// A stopping daemon's answer carries its hint in the status's details.
	st := stoppingReply("stopping").GetStatus()
	if st.GetCode() != int32(codes.Unavailable) || len(st.GetDetails()) != 1 {
		t.Fatalf("stopping reply status %v", st)
	}
	var resp pb.StatusResponse
	if err := proto.Unmarshal(got[0].GetResponse(), &resp); err != nil || resp.GetBackend() != "memory" {
		t.Fatalf("Status response %v, %v", &resp, err)
	}
}

// TestAMalformedFrameEndsTheConnectionAfterTheRepliesBeforeIt: a call, then
// a frame that does not parse with more than the server's buffer behind it.
// The server answers the call and hangs up, its peer's bytes unread; the
// peer still reads that answer (the fuzzer found the reset that follows
// taken for a failure).
func TestAMalformedFrameEndsTheConnectionAfterTheRepliesBeforeIt(t *testing.T) {
	s := newTestServer()
	defer s.Stop(time.Second)
	in := append(frame(&pb.LaneCall{Method: "Status"}), 3, 0xff, 0xff, 0xff)
	in = append(in, bytes.Repeat([]byte{0x1b}, 3*4096)...)
	got := replies(t, exchange(t, s, in))
	if len(got) != 1 || codes.Code(got[0].GetCode()) != codes.OK {
		t.Fatalf("replies %v, want the Status call's answer alone", got)
	}
}

// FuzzServe feeds the server arbitrary bytes after the magic: it must answer
// only with the magic and well-formed replies, never panic, and return once
// its peer hangs up.
func FuzzServe(f *testing.F) {
	f.Add(frame(&pb.LaneCall{Method: "Status"}))
	f.Add(append(frame(&pb.LaneCall{Method: "Status"}), frame(&pb.LaneCall{Method: "x", Timeout: durationpb.New(time.Nanosecond)})...))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add(protowire.AppendVarint(nil, lane.MaxFrameSize+1))
	f.Add([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
	f.Add([]byte{})
	s := newTestServer()
	f.Cleanup(func() { s.Stop(time.Second) })
	f.Fuzz(func(t *testing.T, in []byte) {
		replies(t, exchange(t, s, in))
	})
}
