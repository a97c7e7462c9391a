package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/hfbroker/hfbroker/internal/lane"
	"github.com/hfbroker/hfbroker/internal/osproc"
	"github.com/hfbroker/hfbroker/internal/peercred"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// connLimits bound what a peer can hold open on the daemon's socket, so that
// no peer can use up the daemon's descriptors and keep it from answering
// everyone else (issue 19: 24,000 idle lane connections from one process
// made 'hfbroker status' fail).
//
// The cap is per process, not per uid: every connection of the daemon's own
// uid is its owner's, and a per-uid cap would let one runaway process lock
// all the owner's other commands out. A peer of another uid is capped per
// uid as well (it is only ever answered PermissionDenied and needs few).
// Behind both, a total cap keeps many processes together below the
// descriptor limit; reaching it refuses everyone, the owner included, but
// slots free up as connections close, and idle ones are closed after idle
// (or sniff), so no cap holds anyone out for longer than that.
type connLimits struct {
	// sniff bounds how long a new connection may take to send its first
	// four bytes (the lane's magic or the start of the HTTP/2 preface).
	sniff time.Duration
	// idle bounds a lane connection's wait for its next call, and a gRPC
	// connection's time without an RPC (then sent GOAWAY).
	idle time.Duration
	// perPID caps the open connections of one peer process.
	perPID int
	// perForeignUID caps the open connections of all processes of one
	// other uid together.
	perForeignUID int
	// total caps all open connections together (0: no cap).
	total int
}

func defaultConnLimits() connLimits {
	// 512 per process leaves room for a tool that pools many connections
	// (the benchmarks' 256 clients share one process) and keeps one process
	// far from the descriptor limit.
	// The total leaves a quarter of the descriptors (and at least 64) to
	// the daemon's own files, the keychain's D-Bus and the proxy. A
	// connection of the daemon's own uid holds two: its socket, and its
	// peer's pidfd (osproc.Peer, Linux 6.5+).
	total := 8192
	if n := fdLimit(); n > 0 {
		total = int(min(uint64(total), (max(n*3/4, 128)-64)/2))
	}
	return connLimits{sniff: 10 * time.Second, idle: lane.IdleTimeout, perPID: 512, perForeignUID: 64, total: total}
}

// peerCounter counts the open connections of each peer against connLimits.
type peerCounter struct {
	limits connLimits
	self   uint32
	log    *slog.Logger

	mu       sync.Mutex
	byPID    map[int32]int
	byUID    map[uint32]int // other uids only
	all      int
	lastWarn time.Time
	released chan struct{} // closed and replaced at every release (for waitOpen)
}

func newPeerCounter(limits connLimits, self uint32, log *slog.Logger) *peerCounter {
	return &peerCounter{limits: limits, self: self, log: log, byPID: map[int32]int{}, byUID: map[uint32]int{}, released: make(chan struct{})}
}

// errTooManyConns is a refusal for a peer over its cap.
var errTooManyConns = errors.New("too many connections")

// admit reads c's peer from the kernel and counts c against it. It returns c
// wrapped so that closing it frees the slot, or an error: the peer is over a
// cap (errTooManyConns), or its credentials cannot be read.
//
// The credentials it reads are the connection's for its whole life (the
// kernel records them at connect): the wrapped connection hands them to the
// guard's handshake (grpccred.Known), which would otherwise read them
// again. A peer of the daemon's own uid also gets its process pinned here
// (osproc.Peer: a pidfd of exactly that process where the kernel offers
// one), which the broker reads once per connection.
func (p *peerCounter) admit(c net.Conn) (*countedConn, error) {
	cr, pidfd, err := readPeer(c, p.self)
	if err != nil {
		return nil, err
	}
	foreign := cr.UID != p.self
	var proc *osproc.Peer
	if !foreign && cr.PID > 0 { // readPeer opened a pidfd for no other peer
		proc = osproc.NewPeer(int(cr.PID), pidfd)
	}
	refuse := func() {
		if proc != nil {
			proc.Close()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case cr.PID != 0 && p.byPID[cr.PID] >= p.limits.perPID:
		p.warn("connection refused: the process holds too many", cr)
		refuse()
		return nil, fmt.Errorf("%w from process %d (at most %d open at once)", errTooManyConns, cr.PID, p.limits.perPID)
	case foreign && p.byUID[cr.UID] >= p.limits.perForeignUID:
		p.warn("connection refused: another user holds too many", cr)
		refuse()
		return nil, fmt.Errorf("%w from uid %d", errTooManyConns, cr.UID)
	case p.limits.total > 0 && p.all >= p.limits.total:
		p.warn("connection refused: the daemon holds as many as it may", cr)
		refuse()
		return nil, fmt.Errorf("%w: hfbrokerd holds %d open, its limit (idle ones close within %v)", errTooManyConns, p.all, p.limits.idle)
	}
	p.all++
	if cr.PID != 0 {
		p.byPID[cr.PID]++
	}
	if foreign {
		p.byUID[cr.UID]++
	}
	return &countedConn{Conn: c, creds: cr, proc: proc, release: func() { p.release(cr, foreign) }}, nil
}

// readPeer reads c's peer credentials and, for a peer of uid self on a
// kernel that has it (Linux 6.5+), a pidfd of the peer process
// (SO_PEERPIDFD); -1 when there is none.
func readPeer(c net.Conn, self uint32) (cr peercred.Creds, pidfd int, err error) {
	raw, err := rawConn(c)
	if err != nil {
		return peercred.Creds{}, -1, fmt.Errorf("%w: %w", peercred.ErrNotUnix, err)
	}
	pidfd = -1
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		if cr, cerr = peercred.FromFD(int(fd)); cerr == nil && cr.UID == self && cr.PID > 0 {
			if f, err := osproc.PeerPidfd(int(fd)); err == nil {
				pidfd = f
			}
		}
	}); err != nil {
		return peercred.Creds{}, -1, fmt.Errorf("peer credentials: %w", err)
	}
	return cr, pidfd, cerr
}

func (p *peerCounter) release(cr peercred.Creds, foreign bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	close(p.released)
	p.released = make(chan struct{})
	p.all--
	if cr.PID != 0 {
		if p.byPID[cr.PID]--; p.byPID[cr.PID] <= 0 {
			delete(p.byPID, cr.PID)
		}
	}
	if foreign {
		if p.byUID[cr.UID]--; p.byUID[cr.UID] <= 0 {
			delete(p.byUID, cr.UID)
		}
	}
}

// waitOpen waits until process pid holds at most n connections, or until
// timeout; it reports whether it got there. Tests use it to wait for the
// daemon to notice a connection the test closed.
func (p *peerCounter) waitOpen(pid int32, n int, timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		p.mu.Lock()
		open, ch := p.byPID[pid], p.released
		p.mu.Unlock()
		if open <= n {
			return true
		}
		select {
		case <-ch:
		case <-t.C:
			return false
		}
	}
}

// warn logs a refusal at most once a second: a flood must not flood the log.
func (p *peerCounter) warn(msg string, cr peercred.Creds) {
	if now := time.Now(); now.Sub(p.lastWarn) >= time.Second {
		p.lastWarn = now
		p.log.Warn(msg, "uid", cr.UID, "pid", cr.PID, "per_process", p.limits.perPID, "per_other_user", p.limits.perForeignUID)
	}
}

// refuseConn tells a peer over its cap why it is refused, in the lane's
// framing (what the CLI speaks; a gRPC client just sees a broken
// connection), and closes the connection. The write is small and bounded by
// a short deadline: the accept loop must not wait on a peer.
func refuseConn(c net.Conn, why error) {
	r := &pb.LaneReply{Code: int32(codes.ResourceExhausted),
		Message: "hfbrokerd refused the connection: " + why.Error(),
		Detail:  &pb.ErrorDetail{Hint: "close the connections that process keeps open to hfbrokerd; idle ones are closed after a while"}}
	b, _ := proto.Marshal(r)
	out := protowire.AppendVarint([]byte(lane.Magic), uint64(len(b)))
	c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	c.Write(append(out, b...))
	c.Close()
}

// countedConn frees its peer's slot when closed, once. It carries what
// admit read of its peer (grpccred.Known).
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
	creds   peercred.Creds
	proc    *osproc.Peer // nil for another uid's peer, or a pid of 0
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		if c.proc != nil {
			c.proc.Close()
		}
		c.release()
	})
	return err
}

// PeerCreds implements grpccred.Known.
func (c *countedConn) PeerCreds() peercred.Creds { return c.creds }

// PeerProcess implements grpccred.Known: nil, not a nil *osproc.Peer, when
// there is none.
func (c *countedConn) PeerProcess() any {
	if c.proc == nil {
		return nil
	}
	return c.proc
}

// SyscallConn keeps the descriptor reachable for the peer credential check.
func (c *countedConn) SyscallConn() (syscall.RawConn, error) { return rawConn(c.Conn) }

func rawConn(c net.Conn) (syscall.RawConn, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("%T does not expose its descriptor", c)
	}
	return sc.SyscallConn()
}
