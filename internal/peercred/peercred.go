// Package peercred reads a unix socket peer's credentials from the kernel:
// who is on the other end of the daemon's socket, on either side of it.
// grpccred applies them to gRPC connections.
package peercred

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"syscall"
)

// Creds are a unix socket peer's credentials as the kernel recorded them: for
// a connecting client, at connect(2); for a listening server, at listen(2).
// They cannot be forged by the peer. PID is 0 when the platform does not
// report it. A PID may be reused once its process exits, so it is for audit
// and display only, never for authorisation.
type Creds struct {
	UID, GID uint32
	PID      int32
}

var (
	// ErrUnsupported reports a platform where peer credentials are not
	// implemented. Callers must treat it as fatal: serving without a uid check
	// would let any local user take the tokens.
	ErrUnsupported = errors.New("peer credentials are not implemented on " + runtime.GOOS + "; refusing to serve")

	// ErrNotUnix reports a connection that is not a unix domain socket, whose
	// peer therefore has no kernel-attested uid.
	ErrNotUnix = errors.New("not a unix socket connection")

	// ErrWrongUser reports a peer that runs as a different uid than required.
	ErrWrongUser = errors.New("peer belongs to another user")

	// ErrNotLoopback reports a connection LoopbackOwner cannot ask about: not
	// TCP, or not over loopback.
	ErrNotLoopback = errors.New("not a TCP connection over loopback")

	// ErrPeerGone reports a loopback peer whose socket no process holds any
	// more (closed, or in TIME_WAIT): it has no owner to check.
	ErrPeerGone = errors.New("the peer's socket is closed")
)

// FromFD returns the credentials of the peer of fd, a connected unix socket
// (for callers that hold a raw descriptor: the hfbroker front end dials
// without the net package's poller, issue 16).
func FromFD(fd int) (Creds, error) {
	if !supported {
		return Creds{}, ErrUnsupported
	}
	return fromFD(fd)
}

// Get returns the credentials of c's peer. c must be a unix socket connection
// that exposes its descriptor (such as *net.UnixConn); anything else yields
// ErrNotUnix, and platforms without an implementation yield ErrUnsupported.
func Get(c net.Conn) (Creds, error) {
	if !supported {
		return Creds{}, ErrUnsupported
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return Creds{}, fmt.Errorf("%w: %T does not expose its descriptor", ErrNotUnix, c)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return Creds{}, fmt.Errorf("peer credentials: %w", err)
	}
	var (
		creds Creds
		cerr  error
	)
	if err := raw.Control(func(fd uintptr) { creds, cerr = fromFD(int(fd)) }); err != nil {
		return Creds{}, fmt.Errorf("peer credentials: %w", err)
	}
	if cerr != nil {
		return Creds{}, cerr
	}
	return creds, nil
}
