// Package laneserver is the server half of hfbrokerd's local lane
// (internal/lane is the client half, which the CLI links; this half links
// gRPC, so it lives apart): it reads LaneCall frames from a connection the
// daemon's splitter recognised by the lane's magic, runs each through the
// BrokerService's generated gRPC handler behind the same interceptors and
// uid guard as a gRPC call, and writes a LaneReply per call.
package laneserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hfbroker/hfbroker/internal/lane"
	"github.com/hfbroker/hfbroker/internal/peercred/grpccred"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// Server serves the local lane (proto/hfbroker/v1/lane.proto):
// each LaneCall runs the BrokerService's generated gRPC handler behind the
// same interceptor chain as a gRPC call, with the peer's credentials put in
// the context by the same transport credentials' handshake. Calls on one
// connection run one at a time, in order.
type Server struct {
	impl      any
	methods   map[string]grpc.MethodDesc
	service   string
	intercept grpc.UnaryServerInterceptor
	creds     credentials.TransportCredentials
	check     func(context.Context) error // the guard's uid test
	idle      time.Duration               // how long to wait for the next call
	log       *slog.Logger

	ctx    context.Context // handlers' base context; cancelled by a hard stop
	cancel context.CancelFunc

	mu          sync.Mutex
	conns       map[*laneConn]struct{}
	closing     bool
	stopTimeout time.Duration // set by stop
	wg          sync.WaitGroup
}

// laneConn is one served connection; busy while a call runs.
type laneConn struct {
	nc   net.Conn
	busy bool
}

// New returns a Server for the service desc implemented by impl: each call runs
// desc's handler behind intercept, on a connection guard's handshake has
// checked; a connection idle for idle is closed.
func New(desc *grpc.ServiceDesc, impl any, intercept grpc.UnaryServerInterceptor, guard grpccred.Guard, idle time.Duration, log *slog.Logger) *Server {
	ms := make(map[string]grpc.MethodDesc, len(desc.Methods))
	for _, m := range desc.Methods {
		ms[m.MethodName] = m
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		impl: impl, methods: ms, service: desc.ServiceName, intercept: intercept, creds: guard.Creds, check: guard.Check, idle: idle, log: log,
		ctx: ctx, cancel: cancel, conns: make(map[*laneConn]struct{}),
	}
}

func (s *Server) Serve(nc net.Conn, br *bufio.Reader) {
	// The guard's handshake reads the peer's credentials, logs a refusal,
	// and marks another uid's peer so the guard interceptor refuses its calls.
	_, ai, err := s.creds.ServerHandshake(nc)
	if err != nil {
		nc.Close()
		return
	}
	lc := &laneConn{nc: nc}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.conns[lc] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, lc)
		s.mu.Unlock()
		nc.Close()
		s.wg.Done()
	}()

	ctx := peer.NewContext(s.ctx, &peer.Peer{Addr: nc.RemoteAddr(), LocalAddr: nc.LocalAddr(), AuthInfo: ai})
	// Another uid's call is answered PermissionDenied whatever it asks for,
	// an unknown method included (issue 19), and the connection closed.
	refused := s.check(ctx)
	// The first reply carries the magic first: the client checks it reached a
	// daemon that speaks the lane. The frame and out buffers are reused from
	// call to call.
	out := []byte(lane.Magic)
	first := true
	var frame []byte
	for {
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			return
		}
		// An idle connection is closed: its peer's slot (conns.go) frees
		// up, and a client that comes back dials again (internal/client).
		// Set under the lock, so that stop's wake-up (a deadline in the
		// past) is never overwritten.
		nc.SetReadDeadline(time.Now().Add(s.idle))
		s.mu.Unlock()
		var call lane.Call
		var err error
		if frame, err = lane.ReadCallFrame(br, frame); err == nil {
			call, err = lane.DecodeCall(frame)
		}
		if err != nil {
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				s.log.Debug("lane: closing idle connection", "idle", s.idle)
			case !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed):
				s.log.Debug("lane: dropping connection", "err", err)
			}
			return
		}
		s.mu.Lock()
		closing := s.closing
		lc.busy = !closing
		s.mu.Unlock()

		var reply *pb.LaneReply // nil: the call succeeded with response
		var response []byte
		switch {
		case refused != nil:
			reply = errorReply(status.Convert(refused))
		case closing:
			// Read as the daemon began to stop: say so rather than hang up,
			// which the client could only report as a crash.
			reply = stoppingReply("hfbrokerd is stopping; the call was not run")
		default:
			response, reply = s.handle(ctx, &call)
			if s.ctx.Err() != nil && reply != nil {
				// Cut by the stop's timeout: its handler saw a cancelled
				// context; the caller is told why.
				reply = stoppingReply(fmt.Sprintf("hfbrokerd stopped before the call finished (it waits at most %v for calls in flight)", s.stopTimeout))
			}
		}
		if !first {
			out = out[:0]
		}
		first = false
		if reply == nil {
			// The answer, encoded by hand (lane.AppendReplyResponse).
			out = protowire.AppendVarint(out, uint64(len(lane.AppendReplyResponse(nil, response))))
			out = lane.AppendReplyResponse(out, response)
		} else {
			out = protowire.AppendVarint(out, uint64(proto.Size(reply)))
			out, err = proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(out, reply)
		}
		if err == nil {
			// A peer that does not read its reply does not hold the
			// connection (or the daemon's stop) for longer than idle.
			nc.SetWriteDeadline(time.Now().Add(s.idle))
			_, err = nc.Write(out)
		}

		s.mu.Lock()
		lc.busy = false
		closing = s.closing
		s.mu.Unlock()
		if err != nil || closing || refused != nil {
			return
		}
	}
}

// handle runs call: its encoded response, or the reply that says why it
// failed.
func (s *Server) handle(ctx context.Context, call *lane.Call) ([]byte, *pb.LaneReply) {
	md, ok := s.methods[call.Method]
	if !ok {
		return nil, errorReply(status.Newf(codes.Unimplemented, "unknown method %q of service %s", call.Method, s.service))
	}
	if call.HasTimeout {
		t := durationpb.Duration{Seconds: call.TimeoutSeconds, Nanos: call.TimeoutNanos}
		if err := t.CheckValid(); err != nil || t.AsDuration() <= 0 {
			return nil, errorReply(status.New(codes.InvalidArgument, "invalid timeout"))
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.AsDuration())
		defer cancel()
	}
	dec := func(v any) error {
		m, ok := v.(proto.Message)
		if !ok {
			return status.Errorf(codes.Internal, "lane: %T is not a protobuf message", v)
		}
		if err := proto.Unmarshal(call.Request, m); err != nil {
			return status.Errorf(codes.Internal, "lane: error unmarshalling request: %v", err)
		}
		return nil
	}
	resp, err := md.Handler(s.impl, ctx, dec, s.intercept)
	if err != nil {
		return nil, errorReply(status.Convert(err))
	}
	m, ok := resp.(proto.Message)
	if !ok {
		return nil, errorReply(status.Newf(codes.Internal, "lane: %T is not a protobuf message", resp))
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, errorReply(status.Newf(codes.Internal, "lane: encode response: %v", err))
	}
	if len(b) > lane.MaxMessageSize {
		return nil, errorReply(status.Newf(codes.ResourceExhausted, "response is %d bytes, over the %d-byte limit", len(b), lane.MaxMessageSize))
	}
	return b, nil
}

func errorReply(st *status.Status) *pb.LaneReply {
	if st.Code() == codes.OK {
		// A handler that failed with an OK status still failed.
		p := st.Proto()
		p.Code = int32(codes.Unknown)
		st = status.FromProto(p)
	}
	r := &pb.LaneReply{Code: int32(st.Code()), Message: st.Message(), Status: st.Proto()}
	for _, d := range st.Details() {
		if e, ok := d.(*pb.ErrorDetail); ok {
			r.Detail = e
			break
		}
	}
	return r
}

// stoppingReply is the answer to a call the daemon's stop kept from
// running or finishing.
func stoppingReply(msg string) *pb.LaneReply {
	st := status.New(codes.Unavailable, msg)
	if withD, err := st.WithDetails(&pb.ErrorDetail{Hint: "run the command again: hfbroker starts hfbrokerd when none is running ('hfbroker status' shows whether one is)"}); err == nil {
		st = withD
	}
	return errorReply(st)
}

// cutGrace is how long a call cut by the stop's timeout has to send its
// answer before its connection is closed under it.
const cutGrace = time.Second

// Stop ends idle connections at once and the others as their calls end,
// each call answered first (issue 19: a call in flight must get its answer,
// not a hang-up at the daemon's exit). A call still running after timeout
// has its context cancelled and is answered Unavailable; only one that
// ignores that for cutGrace more has its connection closed under it.
func (s *Server) Stop(timeout time.Duration) {
	s.mu.Lock()
	s.closing = true
	s.stopTimeout = timeout
	for lc := range s.conns {
		if !lc.busy {
			// Wake its read rather than close under it: a call read just
			// now is answered that the daemon is stopping.
			lc.nc.SetReadDeadline(time.Unix(1, 0))
		}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		s.cancel()
		select {
		case <-done:
		case <-time.After(cutGrace):
			s.mu.Lock()
			for lc := range s.conns {
				lc.nc.Close()
			}
			s.mu.Unlock()
			<-done
		}
	}
	s.cancel()
}
