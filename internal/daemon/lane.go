package daemon

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/hfbroker/hfbroker/internal/lane"
	"github.com/hfbroker/hfbroker/internal/lane/laneserver"
)

// splitter accepts on the daemon's socket and sorts each connection by its
// first bytes: the lane's Magic goes to the lane server, anything else (the
// HTTP/2 preface of a gRPC client, or garbage gRPC will refuse) to the gRPC
// server through grpcLis.
//
// Every connection is counted against its peer at accept (conns.go), before
// a byte is read: a peer over its cap is refused at once, and the others are
// served as before.
type splitter struct {
	l       net.Listener
	grpcLis *chanListener
	lane    *laneserver.Server
	peers   *peerCounter
	sniff   time.Duration
	log     *slog.Logger
}

func newSplitter(l net.Listener, ls *laneserver.Server, limits connLimits, log *slog.Logger) *splitter {
	return &splitter{l: l, grpcLis: newChanListener(l), lane: ls, log: log,
		peers: newPeerCounter(limits, uint32(os.Getuid()), log), sniff: limits.sniff}
}

// run accepts until the listener is closed (grpc closes grpcLis, which
// closes it, when it stops).
func (s *splitter) run() {
	var delay time.Duration
	for {
		c, err := s.l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				s.grpcLis.Close()
				return
			}
			// Out of descriptors and the like: back off as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed; retrying", "err", err, "delay", delay)
			select {
			case <-time.After(delay):
			case <-s.grpcLis.closed:
				return
			}
			continue
		}
		delay = 0
		// Counted here, in accept order, so the cap is exact.
		counted, err := s.peers.admit(c)
		if err != nil {
			if errors.Is(err, errTooManyConns) {
				refuseConn(c, err)
			} else {
				s.log.Warn("refused connection: cannot read peer credentials", "err", err)
				c.Close()
			}
			continue
		}
		go s.route(counted)
	}
}

func (s *splitter) route(c *countedConn) {
	c.SetReadDeadline(time.Now().Add(s.sniff))
	br := bufio.NewReaderSize(c, 4<<10)
	head, err := br.Peek(len(lane.Magic))
	if err != nil {
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	if string(head) == lane.Magic {
		br.Discard(len(head))
		s.lane.Serve(c, br)
		return
	}
	s.grpcLis.deliver(&sniffedConn{countedConn: c, r: br})
}

// sniffedConn is a connection whose first bytes were read to sort it: Read
// returns them again first. It keeps countedConn's Close, SyscallConn,
// PeerCreds and PeerProcess (grpccred.Known: the gRPC handshake does not
// read the peer again).
type sniffedConn struct {
	*countedConn
	r *bufio.Reader
}

func (c *sniffedConn) Read(p []byte) (int, error) {
	if c.r != nil {
		if c.r.Buffered() > 0 {
			return c.r.Read(p)
		}
		c.r = nil
	}
	return c.countedConn.Read(p)
}

// chanListener is the gRPC server's listener: it yields the connections the
// splitter hands it, and closing it closes the socket's listener.
type chanListener struct {
	l         net.Listener
	conns     chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
}

func newChanListener(l net.Listener) *chanListener {
	return &chanListener{l: l, conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.closeOnce.Do(func() {
		close(l.closed)
		l.l.Close()
	})
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.l.Addr() }

func (l *chanListener) deliver(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.closed:
		c.Close()
	}
}

// chainUnary runs interceptors in order, the first outermost, as
// grpc.ChainUnaryInterceptor does; the gRPC server and the lane share it.
func chainUnary(ics ...grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		c := &chainedCall{ics: ics, info: info, h: h}
		c.next = c.call
		return c.call(ctx, req)
	}
}

// chainedCall is one call's way through chainUnary's interceptors: each
// one's handler is the same next, which runs the interceptor after it, so
// a call allocates this and its method value rather than a closure per
// interceptor. An interceptor may call its handler more than once, one
// call after the other (not at the same time from two goroutines).
type chainedCall struct {
	ics  []grpc.UnaryServerInterceptor
	info *grpc.UnaryServerInfo
	h    grpc.UnaryHandler
	next grpc.UnaryHandler
	i    int
}

func (c *chainedCall) call(ctx context.Context, req any) (any, error) {
	i := c.i
	if i == len(c.ics) {
		return c.h(ctx, req)
	}
	c.i = i + 1
	resp, err := c.ics[i](ctx, req, c.info, c.next)
	// Back to this interceptor's place: the one before it may call its
	// handler again.
	c.i = i
	return resp, err
}
