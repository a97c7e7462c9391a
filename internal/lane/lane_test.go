package lane

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/code"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// fakeDaemon serves one connection with answer, after checking that the
// connection opened with Magic; calls records what it was asked.
func fakeDaemon(t *testing.T, answer func(*pb.LaneCall) *pb.LaneReply) (*Conn, <-chan *pb.LaneCall) {
	t.Helper()
	client, server := net.Pipe()
	calls := make(chan *pb.LaneCall, 10)
	go func() {
		defer server.Close()
		magic := make([]byte, len(Magic))
		if _, err := io.ReadFull(server, magic); err != nil || string(magic) != Magic {
			t.Errorf("connection opened with %q, %v; want %q", magic, err, Magic)
			return
		}
		r := bufio.NewReader(server)
		head := []byte(Magic) // the daemon's side opens with it, before the first reply
		for {
			var call pb.LaneCall
			if err := protodelim.UnmarshalFrom(r, &call); err != nil {
				return
			}
			calls <- &call
			reply := answer(&call)
			if reply == nil {
				return // hang up
			}
			var out bytes.Buffer
			out.Write(head)
			head = nil
			if _, err := protodelim.MarshalTo(&out, reply); err != nil {
				return
			}
			if _, err := server.Write(out.Bytes()); err != nil {
				return
			}
		}
	}()
	c := NewConn(client)
	t.Cleanup(func() { c.Close() })
	return c, calls
}

func TestCallsShareOneConnectionAndCarryTheirDeadline(t *testing.T) {
	c, calls := fakeDaemon(t, func(call *pb.LaneCall) *pb.LaneReply {
		var req pb.LeaseRequest
		proto.Unmarshal(call.GetRequest(), &req)
		b, _ := proto.Marshal(&pb.LeaseResponse{Profile: req.GetProfile(), LeaseId: "l-1"})
		return &pb.LaneReply{Response: b}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, name := range []string{"work", "home"} {
		var resp pb.LeaseResponse
		if err := c.Invoke(ctx, "Lease", &pb.LeaseRequest{Profile: name}, &resp); err != nil {
			t.Fatal(err)
		}
		if resp.GetProfile() != name || resp.GetLeaseId() != "l-1" {
			t.Fatalf("response = %v", &resp)
		}
		call := <-calls
		if call.GetMethod() != "Lease" {
			t.Fatalf("method %q", call.GetMethod())
		}
		if d := call.GetTimeout().AsDuration(); d <= 9*time.Second || d > 10*time.Second {
			t.Fatalf("timeout sent = %v; want the context's ~10s", d)
		}
	}
	// No deadline, no timeout.
	if err := c.Invoke(context.Background(), "Status", &pb.StatusRequest{}, new(pb.StatusResponse)); err != nil {
		t.Fatal(err)
	}
	if call := <-calls; call.Timeout != nil {
		t.Fatalf("timeout %v sent for a context without a deadline", call.GetTimeout())
	}
}

func TestErrorRepliesBecomeErrorsWithTheirDetail(t *testing.T) {
	detail := &pb.ErrorDetail{Kind: pb.ErrorDetail_KIND_NO_TOKEN_FITS, Hint: "run 'hfbroker login'",
		Reasons: []*pb.ProfileReason{{Profile: "ro", Reason: "read-only"}}}
	c, _ := fakeDaemon(t, func(*pb.LaneCall) *pb.LaneReply {
		return &pb.LaneReply{Code: int32(code.Code_FAILED_PRECONDITION), Message: "no token fits", Detail: detail}
	})
	err := c.Invoke(context.Background(), "Lease", &pb.LeaseRequest{}, new(pb.LeaseResponse))
	le, ok := errors.AsType[*Error](err)
	if !ok || le.Code != code.Code_FAILED_PRECONDITION || le.Error() != "no token fits" || !proto.Equal(le.Detail, detail) {
		t.Fatalf("err = %#v", err)
	}
	if c.Broken() {
		t.Fatal("an error reply broke the connection")
	}
}

// TestErrorRepliesReadTheWholeStatus: a reply's google.rpc.Status is the
// answer when present (issue 13), its ErrorDetail found among its details;
// the summary fields are for older clients and lose to it.
func TestErrorRepliesReadTheWholeStatus(t *testing.T) {
	detail := &pb.ErrorDetail{Kind: pb.ErrorDetail_KIND_LOCKED, Hint: "run 'hfbroker unlock'"}
	other, _ := anypb.New(&pb.StatusRequest{})
	packed, _ := anypb.New(detail)
	c, _ := fakeDaemon(t, func(*pb.LaneCall) *pb.LaneReply {
		return &pb.LaneReply{Code: int32(code.Code_UNKNOWN), Message: "summary",
			Status: &spb.Status{Code: int32(code.Code_FAILED_PRECONDITION), Message: "the vault is locked", Details: []*anypb.Any{other, packed}}}
	})
	err := c.Invoke(context.Background(), "Lease", &pb.LeaseRequest{}, new(pb.LeaseResponse))
	le, ok := errors.AsType[*Error](err)
	if !ok || le.Code != code.Code_FAILED_PRECONDITION || le.Error() != "the vault is locked" || !proto.Equal(le.Detail, detail) {
		t.Fatalf("err = %#v", err)
	}
}

func TestHangUpAndStallsBreakTheConnection(t *testing.T) {
	c, _ := fakeDaemon(t, func(*pb.LaneCall) *pb.LaneReply { return nil })
	err := c.Invoke(context.Background(), "Status", &pb.StatusRequest{}, new(pb.StatusResponse))
	if le, ok := errors.AsType[*Error](err); !ok || le.Code != code.Code_UNAVAILABLE {
		t.Fatalf("daemon hung up: %v; want Unavailable", err)
	}
	if !c.Broken() {
		t.Fatal("connection not marked broken")
	}

	release := make(chan struct{})
	defer close(release)
	stalled, _ := fakeDaemon(t, func(*pb.LaneCall) *pb.LaneReply { <-release; return nil })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = stalled.Invoke(ctx, "Status", &pb.StatusRequest{}, new(pb.StatusResponse))
	if le, ok := errors.AsType[*Error](err); !ok || le.Code != code.Code_DEADLINE_EXCEEDED {
		t.Fatalf("stalled daemon: %v; want DeadlineExceeded", err)
	}
}

// TestADaemonThatDiedIsNotCalledOlder is issue 19's "a kill -9'd daemon is
// described as possibly older than this hfbroker": a connection that ends
// without a byte of answer, on the first call or a later one, is a daemon
// that stopped or crashed, and the error says so; only a daemon that
// answers in HTTP/2 is older than the lane.
func TestADaemonThatDiedIsNotCalledOlder(t *testing.T) {
	for _, tc := range []struct {
		name      string
		answer    []byte // what the server writes before hanging up
		want, not string
		wantHint  string
	}{
		{"a daemon that dies mid-call", nil, "hfbrokerd closed the connection (it stopped or crashed)", "older", "hfbroker status"},
		// An HTTP/2 server's first frame: SETTINGS, empty.
		{"a daemon that answers in HTTP/2", []byte("\x00\x00\x00\x04\x00\x00\x00\x00\x00"), "older than this hfbroker", "crashed", "restart hfbrokerd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			served := make(chan struct{})
			go func() {
				defer close(served)
				server, err := l.Accept()
				if err != nil {
					return
				}
				server.Write(tc.answer)
				io.ReadFull(server, make([]byte, len(Magic)))
				server.Close()
			}()
			nc, err := net.Dial("unix", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			c := NewConn(nc)
			defer c.Close()
			err = c.Invoke(context.Background(), "Status", &pb.StatusRequest{}, new(pb.StatusResponse))
			<-served
			le, ok := errors.AsType[*Error](err)
			if !ok || le.Code != code.Code_UNAVAILABLE || !strings.Contains(le.Message, tc.want) || strings.Contains(le.Message, tc.not) ||
				!strings.Contains(le.Detail.GetHint(), tc.wantHint) {
				t.Fatalf("err = %#v; want Unavailable %q (hint naming %q)", err, tc.want, tc.wantHint)
			}
		})
	}
}

// TestACallOnAConnectionTheDaemonClosedIsNotSent: the daemon closes idle
// lane connections; a call on such a kept connection must fail without a
// byte sent, and say so (NotSent), so that internal/client dials again
// instead of peeking at the socket before every call.
func TestACallOnAConnectionTheDaemonClosedIsNotSent(t *testing.T) {
	l, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		nc, err := l.Accept()
		if err != nil {
			return
		}
		defer nc.Close() // after one answer, as an idle daemon does
		r := bufio.NewReader(nc)
		magic := make([]byte, len(Magic))
		var call pb.LaneCall
		if _, err := io.ReadFull(r, magic); err != nil || protodelim.UnmarshalFrom(r, &call) != nil {
			return
		}
		out := bytes.NewBufferString(Magic)
		protodelim.MarshalTo(out, &pb.LaneReply{})
		nc.Write(out.Bytes())
	}()
	nc, err := net.Dial("unix", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := NewConn(nc)
	defer c.Close()
	ctx := context.Background()
	if err := c.Invoke(ctx, "Status", &pb.StatusRequest{}, new(pb.StatusResponse)); err != nil {
		t.Fatal(err)
	}
	<-closed
	err = c.Invoke(ctx, "Status", &pb.StatusRequest{}, new(pb.StatusResponse))
	if !NotSent(err) {
		t.Fatalf("call on the closed connection: %v; want an error that says it was not sent", err)
	}
	if !c.Broken() {
		t.Error("the connection is not marked broken")
	}
	if NotSent(connectionClosed()) {
		t.Error("a connection closed during a call says its call was not sent")
	}
}

// Every call a client makes asks NotSent of its result; a call that
// succeeded must not pay an allocation for it.
func TestNotSentOfASuccessAllocatesNothing(t *testing.T) {
	if NotSent(nil) {
		t.Fatal("NotSent(nil) = true")
	}
	if n := testing.AllocsPerRun(100, func() { NotSent(nil) }); n != 0 {
		t.Fatalf("NotSent(nil) allocates %v times, want 0", n)
	}
}
