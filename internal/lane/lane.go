// Package lane is the client side of hfbrokerd's local lane (the server side
// is internal/lane/laneserver, apart because it links gRPC): BrokerService
// calls carried as size-delimited protobuf messages (LaneCall, LaneReply in
// proto/hfbroker/v1/lane.proto) on the daemon's own socket, instead of gRPC
// over HTTP/2.
//
// The daemon runs every lane call through the same gRPC handler and the same
// interceptors (the uid guard first) as a gRPC call, so the two differ only
// in framing. The lane exists for the CLI, a process that lives for a few
// milliseconds: linking and starting a gRPC client costs it more than the
// call itself (docs/BENCHMARKS.md). This package therefore links neither
// gRPC nor net/http.
//
// A Conn does not check who listens on the socket: dial it with a connection
// whose peer has already been checked (internal/client does).
package lane

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// Magic opens every lane connection, in both directions. A gRPC client opens
// with the HTTP/2 preface ("PRI * HTTP/2.0…") instead, which is how the daemon
// tells the two apart on one socket; the daemon's magic tells the client it
// reached a daemon that speaks the lane.
const Magic = "HFL1"

// MaxMessageSize bounds a request or response message, as the daemon's gRPC
// server does.
const MaxMessageSize = 64 << 10

// MaxFrameSize bounds one LaneCall or LaneReply: a message and its envelope.
const MaxFrameSize = MaxMessageSize + 4<<10

// IdleTimeout is how long the daemon keeps a lane connection open waiting
// for its next call. A client should not send a call on a connection idle
// for more than half of it (Conn.Idle): the daemon may be closing it.
const IdleTimeout = 2 * time.Minute

// Error is a call's failure: the gRPC status the handler returned, or, for a
// connection that failed, Unavailable (or the context's Canceled or
// DeadlineExceeded).
type Error struct {
	Code    code.Code
	Message string
	// Detail is the status's ErrorDetail, when the daemon attached one.
	Detail *pb.ErrorDetail

	// notSent: the call's write on a kept connection found it closed by
	// the daemon, so no byte of the call left (see NotSent).
	notSent bool
}

// NotSent reports whether err is a call that failed before any byte of it
// reached the daemon, because the daemon had closed the kept connection
// (it closes idle ones, and all of them when it stops): the call can be
// made again on a new connection. A unix socket whose peer has closed
// refuses a write at once (EPIPE), so this needs no check before the call.
func NotSent(err error) bool {
	if err == nil {
		return false // without errors.As's allocation on every call
	}
	var e *Error
	return errors.As(err, &e) && e.notSent
}

func (e *Error) Error() string { return e.Message }

// Conn is one lane connection. Calls on it take turns; a Conn whose
// connection failed, or whose call was abandoned (its context ended), fails
// every later call: dial a new one.
type Conn struct {
	mu     sync.Mutex
	nc     net.Conn
	r      *bufio.Reader
	opened bool
	broken error
	buf    []byte
	// callBuf and replyBuf are reused by the next call.
	callBuf, replyBuf []byte
	last              time.Time // when the last call ended (or the Conn was made)
}

// NewConn returns a lane over nc, a connection to the daemon's socket. The
// lane owns nc from now on.
func NewConn(nc net.Conn) *Conn {
	return &Conn{nc: nc, r: bufio.NewReaderSize(nc, 4<<10), last: time.Now()}
}

// Idle reports how long the connection has carried no call.
func (c *Conn) Idle() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Since(c.last)
}

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

// Broken reports whether the connection can no longer carry calls.
func (c *Conn) Broken() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.broken != nil
}

// Invoke calls the BrokerService method named method (e.g. "Lease") with req
// and decodes its answer into resp. It honours ctx's deadline and
// cancellation.
func (c *Conn) Invoke(ctx context.Context, method string, req, resp proto.Message) error {
	body, err := proto.Marshal(req)
	if err != nil {
		return &Error{Code: code.Code_INTERNAL, Message: fmt.Sprintf("encode %s request: %v", method, err)}
	}
	out, err := c.InvokeRaw(ctx, method, body)
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(out, resp); err != nil {
		return &Error{Code: code.Code_INTERNAL, Message: fmt.Sprintf("decode %s response: %v", method, err)}
	}
	return nil
}

// InvokeRaw is Invoke with the request and the response encoded: callers
// that encode their messages by hand (internal/client does for the hot
// calls) spare a short-lived process proto's reflective first use. The
// response is valid until the next call on c.
func (c *Conn) InvokeRaw(ctx context.Context, method string, body []byte) ([]byte, error) {
	if len(body) > MaxMessageSize {
		return nil, &Error{Code: code.Code_RESOURCE_EXHAUSTED, Message: fmt.Sprintf("%s request is %d bytes, over the %d-byte limit", method, len(body), MaxMessageSize)}
	}
	var timeout time.Duration
	if d, ok := ctx.Deadline(); ok {
		left := time.Until(d)
		if left <= 0 {
			return nil, &Error{Code: code.Code_DEADLINE_EXCEEDED, Message: context.DeadlineExceeded.Error()}
		}
		timeout = left
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return nil, &Error{Code: code.Code_UNAVAILABLE, Message: "connection to hfbrokerd already failed: " + c.broken.Error()}
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxError(err)
	}

	// One write per call: the magic (first call only), the size, the call.
	frame := c.buf[:0]
	if !c.opened {
		frame = append(frame, Magic...)
	}
	call := appendCall(c.callBuf[:0], method, body, timeout)
	c.callBuf = call
	frame = protowire.AppendVarint(frame, uint64(len(call)))
	frame = append(frame, call...)
	c.buf = frame

	// Cancellation interrupts blocked I/O by moving the deadline to the past.
	if d, ok := ctx.Deadline(); ok {
		c.nc.SetDeadline(d)
	} else {
		c.nc.SetDeadline(time.Time{})
	}
	// A context that can never end (Background) needs no watch.
	if ctx.Done() != nil {
		fired := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			c.nc.SetDeadline(time.Unix(1, 0))
			close(fired)
		})
		defer func() {
			// A cancellation racing the call's end must land before the
			// next call sets its own deadline, not after.
			if !stop() {
				<-fired
			}
		}()
	}
	defer func() { c.last = time.Now() }()

	var raw []byte
	first := !c.opened
	n, err := c.nc.Write(frame)
	peerGone := err != nil && (errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET))
	if peerGone && !first && n == 0 {
		// A kept connection the daemon has closed (idle, or stopping):
		// nothing was sent, the caller may dial again and retry.
		c.broken = err
		e := connectionClosed().(*Error)
		e.notSent = true
		return nil, e
	}
	if peerGone && first {
		// The daemon may have answered and hung up before reading the call
		// (it refuses a process over its connection cap so): read what it
		// said. A closed connection reads at once, answer or EOF.
		err = nil
	}
	if err == nil {
		c.opened = true
		if first {
			// The daemon opens its side with the magic too. Anything else
			// is not the lane: a daemon that predates it answers with an
			// HTTP/2 SETTINGS frame, which must not be read as a reply.
			var head [len(Magic)]byte
			if _, err = io.ReadFull(c.r, head[:]); err == nil && string(head[:]) != Magic {
				c.broken = errors.New("not the lane")
				return nil, olderDaemon("hfbrokerd answered in another protocol")
			}
		}
		if err == nil {
			raw, err = readFrame(c.r, c.replyBuf)
		}
	}
	if err != nil {
		c.broken = err
		if cerr := ctx.Err(); cerr != nil {
			return nil, ctxError(cerr)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, &Error{Code: code.Code_DEADLINE_EXCEEDED, Message: context.DeadlineExceeded.Error()}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
			// A connection that ends without a byte of answer is a daemon
			// that stopped or crashed (kill -9), first call or not: a
			// daemon older than the lane answers with HTTP/2, caught above.
			return nil, connectionClosed()
		}
		return nil, &Error{Code: code.Code_UNAVAILABLE, Message: err.Error()}
	}
	c.replyBuf = raw
	reply, err := decodeReply(raw)
	if err != nil {
		c.broken = err
		return nil, &Error{Code: code.Code_UNAVAILABLE, Message: fmt.Sprintf("decode %s reply: %v", method, err)}
	}
	return reply.result()
}

// Result is the answer a LaneReply's body (raw) gives to a call of method:
// the response message, or the daemon's error as an *Error.
func Result(method string, raw []byte) ([]byte, error) {
	reply, err := decodeReply(raw)
	if err != nil {
		return nil, &Error{Code: code.Code_UNAVAILABLE, Message: fmt.Sprintf("decode %s reply: %v", method, err)}
	}
	return reply.result()
}

// result is the response, or the daemon's error as an *Error.
func (r reply) result() ([]byte, error) {
	if r.hasStatus {
		// The whole gRPC status; code, message and detail are its summary
		// for clients that predate it. Decoded by proto: the error path
		// may pay for reflection.
		st := new(status.Status)
		if proto.Unmarshal(r.status, st) == nil && st.GetCode() != int32(code.Code_OK) {
			e := &Error{Code: code.Code(st.GetCode()), Message: st.GetMessage()}
			for _, a := range st.GetDetails() {
				var d pb.ErrorDetail
				if a.MessageIs(&d) && a.UnmarshalTo(&d) == nil {
					e.Detail = &d
					break
				}
			}
			return nil, e
		}
	}
	if r.code != int32(code.Code_OK) {
		e := &Error{Code: code.Code(r.code), Message: r.message}
		if r.hasDetail {
			d := new(pb.ErrorDetail)
			if proto.Unmarshal(r.detail, d) == nil {
				e.Detail = d
			}
		}
		return nil, e
	}
	return r.response, nil
}

// connectionClosed is the error for a connection the daemon ended without
// answering (issue 19: a kill -9'd daemon was described as older than this
// hfbroker).
func connectionClosed() error {
	return &Error{Code: code.Code_UNAVAILABLE,
		Message: "hfbrokerd closed the connection (it stopped or crashed)",
		Detail:  &pb.ErrorDetail{Hint: "run the command again: hfbroker starts hfbrokerd when none is running ('hfbroker status' shows whether one is)"}}
}

// olderDaemon is the error for a daemon that does not speak the lane.
func olderDaemon(what string) error {
	return &Error{Code: code.Code_UNAVAILABLE,
		Message: what + ": it may be older than this hfbroker, which talks to it over its local lane",
		Detail:  &pb.ErrorDetail{Hint: "restart hfbrokerd ('hfbrokerd restart' for the user service; otherwise stop it and hfbroker starts the new one)"}}
}

func ctxError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Code: code.Code_DEADLINE_EXCEEDED, Message: err.Error()}
	}
	return &Error{Code: code.Code_CANCELLED, Message: err.Error()}
}
