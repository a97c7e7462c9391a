//go:build unix

package front

import (
	"io"
	"syscall"
	"time"
)

// conn is a lane connection to a daemon that runs as our uid: a raw
// descriptor with blocking I/O. A process that makes one call does not need
// the net package's poller (and the threads it starts).
type conn struct {
	fd int
}

// open connects to the daemon's socket without checking who serves it yet.
func open() (*conn, error) {
	path, ok := socketPath()
	if !ok {
		return nil, errFallback
	}
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0) // macOS has no SOCK_CLOEXEC
	if err != nil {
		return nil, errFallback
	}
	syscall.CloseOnExec(fd)
	c := &conn{fd: fd}
	// As the full CLI's net.DialTimeout: a connect that waits on a full
	// backlog gives up after 2 s.
	if c.setTimeout(2*time.Second) != nil || connect(fd, path) != nil {
		c.close()
		return nil, errFallback
	}
	return c, nil
}

// checkPeer refuses a socket that a process of another uid serves.
func (c *conn) checkPeer() error {
	uid, err := peerUID(c.fd)
	if err != nil || uid != syscall.Getuid() {
		return errFallback
	}
	return nil
}

func connect(fd int, path string) error {
	for {
		err := syscall.Connect(fd, &syscall.SockaddrUnix{Name: path})
		if err != syscall.EINTR {
			return err
		}
	}
}

// setTimeout bounds each later read, write and connect; 0 is no bound.
func (c *conn) setTimeout(d time.Duration) error {
	tv := syscall.NsecToTimeval(d.Nanoseconds())
	if err := syscall.SetsockoptTimeval(c.fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		return err
	}
	return syscall.SetsockoptTimeval(c.fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv)
}

func (c *conn) Read(p []byte) (int, error) { return readFD(c.fd, p) }

func (c *conn) writeAll(b []byte) error { return writeAll(c.fd, b) }

// maxFrame is lane.MaxFrameSize.
const maxFrame = 64<<10 + 4<<10

// call makes one BrokerService call over the lane on a new connection
// and returns the response message; any failure, the daemon's error
// replies and no daemon included, is errFallback (with what the front read
// of stdin kept for the full CLI).
func call(method string, req []byte, deadline time.Time) ([]byte, error) {
	f, err := newFrame(method, req, deadline)
	if err != nil {
		return nil, err
	}
	c, err := open()
	if err != nil {
		return nil, err
	}
	defer c.close()
	return c.roundTrip(f)
}

// frame is one lane call, encoded, with the bound on waiting for its reply.
type frame struct {
	b       []byte
	timeout time.Duration // 0: none
}

// newFrame encodes a call. call encodes it before it connects, so that the
// request follows the connect at once: the daemon, woken by the connect,
// then finds it on its first read instead of waiting in its poller for a
// second wake-up.
func newFrame(method string, req []byte, deadline time.Time) (frame, error) {
	var timeout time.Duration
	if !deadline.IsZero() {
		if timeout = time.Until(deadline); timeout <= 0 {
			return frame{}, errFallback
		}
	}
	call := appendCall(nil, method, req, timeout)
	b := append([]byte("HFL1"), appendUvarint(nil, uint64(len(call)))...)
	return frame{b: append(b, call...), timeout: timeout}, nil
}

// roundTrip sends f and reads its reply.
func (c *conn) roundTrip(f frame) ([]byte, error) {
	// A socket someone else serves gets not a byte (the squatter test in
	// cmd/hfbroker/foundation_test.go): no repo name, no fingerprint.
	// Nothing else comes between the connect and the write (open's 2 s
	// bound still covers it), so that the daemon, woken by the connect,
	// mostly finds the request at its first read instead of going back to
	// its poller for a second wake-up.
	if err := c.checkPeer(); err != nil {
		return nil, err
	}
	if err := c.writeAll(f.b); err != nil {
		return nil, errFallback
	}
	if c.setTimeout(f.timeout) != nil { // 0: the reply may take its time
		return nil, errFallback
	}
	buf := make([]byte, 4096)
	n, err := io.ReadAtLeast(c, buf, 5)
	if err != nil || string(buf[:4]) != "HFL1" {
		return nil, errFallback
	}
	have := buf[4:n]
	size, k := consumeUvarint(have)
	for k < 0 && len(have) < 10 {
		// The size prefix arrived in pieces.
		m, err := c.Read(buf[n:])
		if err != nil {
			return nil, errFallback
		}
		n += m
		have = buf[4:n]
		size, k = consumeUvarint(have)
	}
	if k < 0 || size > maxFrame {
		return nil, errFallback
	}
	body := make([]byte, size)
	got := copy(body, have[k:])
	if uint64(got) < size {
		if _, err := io.ReadFull(c, body[got:]); err != nil {
			return nil, errFallback
		}
	}
	reply, err := decodeLaneReply(body)
	if err != nil {
		return nil, errFallback
	}
	if reply.failed {
		// The full CLI prints the error; it takes the reply from here
		// rather than ask again (fallback).
		h := append(f.b, "HFL1"...)
		h = appendUvarint(h, size)
		return nil, &refused{handover: append(h, body...)}
	}
	return reply.response, nil
}

func (c *conn) close() { syscall.Close(c.fd) }

// lease makes the Lease call.
func lease(req *leaseRequest, deadline time.Time) (*leaseResponse, error) {
	out, err := call("Lease", req.append(nil), deadline)
	if err != nil {
		return nil, err
	}
	resp, err := decodeLeaseResponse(out)
	if err != nil {
		return nil, errFallback
	}
	return resp, nil
}
