package peercred

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Kernel ABI of NETLINK_SOCK_DIAG (linux/inet_diag.h, linux/sock_diag.h),
// stable since Linux 3.3; golang.org/x/sys has the constants only.
const (
	sizeofNlMsghdr     = 16
	sizeofInetDiagReq2 = 56 // inet_diag_req_v2: 4 bytes, states, inet_diag_sockid
	sizeofInetDiagMsg  = 72 // inet_diag_msg: 4 bytes, inet_diag_sockid, 5 uint32
	offsetMsgUID       = 4 + 48 + 12
	offsetMsgInode     = offsetMsgUID + 4
	tcpTimeWait        = 6 // TCP_TIME_WAIT in idiag_state
)

// LoopbackOwner returns the uid that owns the other end of c, an accepted
// TCP connection over loopback: the socket that connected to us. Both ends
// of a loopback connection live in this kernel, so the kernel knows who
// opened the peer's socket, as identd knows; LoopbackOwner asks it with one
// sock_diag query for the exact 4-tuple (the peer's local address is our
// remote one and the other way round).
//
// It fails with ErrPeerGone when the peer's socket is no longer open in any
// process (closed, orphaned, or in TIME_WAIT, which the kernel reports as
// uid 0), and refuses connections that are not TCP over loopback.
func LoopbackOwner(c net.Conn) (uint32, error) {
	local, lok := c.LocalAddr().(*net.TCPAddr)
	remote, rok := c.RemoteAddr().(*net.TCPAddr)
	if !lok || !rok {
		return 0, fmt.Errorf("%w: %T is not a TCP connection", ErrNotLoopback, c)
	}
	if !local.IP.IsLoopback() || !remote.IP.IsLoopback() {
		return 0, fmt.Errorf("%w: %s -> %s", ErrNotLoopback, remote, local)
	}
	return tcpOwner(remote, local)
}

var diagSeq atomic.Uint32

// tcpOwner asks sock_diag for the TCP socket whose local address is src and
// whose remote address is dst, and returns its owner's uid.
func tcpOwner(src, dst *net.TCPAddr) (uint32, error) {
	family := byte(unix.AF_INET)
	srcIP, dstIP := src.IP.To4(), dst.IP.To4()
	if srcIP == nil || dstIP == nil {
		family = unix.AF_INET6
		srcIP, dstIP = src.IP.To16(), dst.IP.To16()
	}
	seq := diagSeq.Add(1)
	req := make([]byte, sizeofNlMsghdr+sizeofInetDiagReq2)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST) // one socket, not a dump
	ne.PutUint32(req[8:], seq)
	r := req[sizeofNlMsghdr:]
	r[0] = family
	r[1] = unix.IPPROTO_TCP
	ne.PutUint32(r[4:], ^uint32(0)) // any state
	id := r[8:]
	binary.BigEndian.PutUint16(id[0:], uint16(src.Port))
	binary.BigEndian.PutUint16(id[2:], uint16(dst.Port))
	copy(id[4:20], srcIP)
	copy(id[20:36], dstIP)
	// id[36:40] is the interface, 0 for any; the cookie must be
	// INET_DIAG_NOCOOKIE or the kernel compares it.
	ne.PutUint32(id[40:], ^uint32(0))
	ne.PutUint32(id[44:], ^uint32(0))

	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return 0, fmt.Errorf("open sock_diag: %w", err)
	}
	defer unix.Close(fd)
	// The kernel answers at once; the timeout only guards against a kernel
	// that never does.
	tv := unix.Timeval{Sec: 2}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return 0, fmt.Errorf("sock_diag timeout: %w", err)
	}
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, fmt.Errorf("sock_diag request: %w", err)
	}
	buf := make([]byte, 4096)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return 0, fmt.Errorf("sock_diag answer: %w", err)
		}
		for b := buf[:n]; len(b) >= sizeofNlMsghdr; {
			l := int(ne.Uint32(b[0:]))
			if l < sizeofNlMsghdr || l > len(b) {
				return 0, errors.New("sock_diag answer: bad netlink message")
			}
			typ, mseq, body := ne.Uint16(b[4:]), ne.Uint32(b[8:]), b[sizeofNlMsghdr:l]
			b = b[min(nlmAlign(l), len(b)):]
			if mseq != seq {
				continue
			}
			switch typ {
			case unix.NLMSG_ERROR:
				if len(body) < 4 {
					return 0, errors.New("sock_diag answer: short error")
				}
				errno := -int32(ne.Uint32(body))
				if errno == 0 {
					continue // an ack
				}
				if unix.Errno(errno) == unix.ENOENT {
					return 0, ErrPeerGone
				}
				return 0, fmt.Errorf("sock_diag: %w", unix.Errno(errno))
			case unix.SOCK_DIAG_BY_FAMILY:
				if len(body) < sizeofInetDiagMsg {
					return 0, errors.New("sock_diag answer: short message")
				}
				if body[1] == tcpTimeWait || ne.Uint32(body[offsetMsgInode:]) == 0 {
					return 0, ErrPeerGone
				}
				return ne.Uint32(body[offsetMsgUID:]), nil
			case unix.NLMSG_DONE:
				return 0, ErrPeerGone
			}
		}
	}
}

func nlmAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }
