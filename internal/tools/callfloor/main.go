//go:build linux

// Command callfloor makes `hfbroker token --profile NAME`'s call and prints
// the token, with nothing but syscall: the runtime's start-up, the socket,
// the lane's Lease call on it and the print, without reading a config or
// checking an argument. It is the floor under `hfbroker token` for any Go
// program, and with execfloor under `hfbroker exec`, measured against the
// same empty program in the same run (scripts/bench, issue 16). It reads
// HFBROKER_SOCKET (which must be set) and HF_ENDPOINT, and takes the
// profile as its one argument.
package main

import "syscall"

func main() {
	sock, _ := syscall.Getenv("HFBROKER_SOCKET")
	ep, _ := syscall.Getenv("HF_ENDPOINT")
	if ep == "" {
		ep = "https://huggingface.co"
	}
	frame := leaseFrame(lastArg(), ep)

	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil || syscall.Connect(fd, &syscall.SockaddrUnix{Name: sock}) != nil {
		syscall.Exit(3)
	}
	cred, err := syscall.GetsockoptUcred(fd, syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	if err != nil || int(cred.Uid) != syscall.Getuid() {
		syscall.Exit(3)
	}
	if n, err := syscall.Write(fd, frame); err != nil || n != len(frame) {
		syscall.Exit(3)
	}
	var buf [4096]byte
	n := 0
	for n < 5 || n < 4+frameLen(buf[4:n]) {
		m, err := syscall.Read(fd, buf[n:])
		if err != nil || m <= 0 {
			syscall.Exit(1)
		}
		n += m
	}
	// LaneFrame after "HFL1" and its size: a LaneReply whose field 1 is the
	// LeaseResponse, whose field 4 is the token.
	body := buf[4:n]
	_, k := readUvarint(body)
	token := find(find(body[k:], 1), 4)
	if token == nil {
		syscall.Exit(1)
	}
	syscall.Write(1, append(token, '\n'))
	syscall.Exit(0)
}

// leaseFrame is the lane frame of a LeaseRequest (proto/hfbroker/v1) for
// profile: access read, purpose token, endpoint; in a LaneCall of method
// Lease.
func leaseFrame(profile, endpoint string) []byte {
	req := field(nil, 1, profile)
	req = append(req, 3<<3, 1, 4<<3, 3)
	req = field(req, 6, endpoint)
	call := field(field(nil, 1, "Lease"), 2, string(req))
	frame := uvarint([]byte("HFL1"), uint64(len(call)))
	return append(frame, call...)
}

// frameLen is the size prefix plus what it counts, or a large number while
// the prefix is incomplete.
func frameLen(b []byte) int {
	v, k := readUvarint(b)
	if k == 0 {
		return 1 << 30
	}
	return k + int(v)
}

func lastArg() string {
	fd, err := syscall.Open("/proc/self/cmdline", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	var b [4096]byte
	n, _ := syscall.Read(fd, b[:])
	syscall.Close(fd)
	if n <= 1 {
		return ""
	}
	s := b[:n-1]
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == 0 {
			return string(s[i+1:])
		}
	}
	return ""
}

func uvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func field(b []byte, num int, v string) []byte {
	b = uvarint(b, uint64(num<<3|2))
	b = uvarint(b, uint64(len(v)))
	return append(b, v...)
}

// readUvarint returns the value and its length, or 0, 0.
func readUvarint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}

// find returns the bytes of field num (length-delimited) in message b.
func find(b []byte, num uint64) []byte {
	for len(b) > 0 {
		key, k := readUvarint(b)
		if k == 0 {
			return nil
		}
		b = b[k:]
		switch key & 7 {
		case 0:
			_, k = readUvarint(b)
			if k == 0 {
				return nil
			}
			b = b[k:]
		case 2:
			l, k := readUvarint(b)
			if k == 0 || uint64(len(b)-k) < l {
				return nil
			}
			if key>>3 == num {
				return b[k : k+int(l)]
			}
			b = b[k+int(l):]
		default:
			return nil
		}
	}
	return nil
}
