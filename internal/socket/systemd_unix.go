//go:build unix

package socket

import (
	"fmt"
	"net"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// listenFDsStart is the first descriptor systemd passes (SD_LISTEN_FDS_START).
const listenFDsStart = 3

// FromSystemd returns the listener passed by systemd socket activation, and
// ok=false when none was passed to this process. It follows sd_listen_fds(3):
// LISTEN_PID must equal our pid and LISTEN_FDS be at least 1; fd 3 must be a
// unix stream socket. Only fd 3 is used; any further passed descriptors are
// marked close-on-exec and left alone.
//
// LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES are unset once read, so child
// processes do not mistake them for their own.
//
// The returned listener does not unlink its socket on Close and takes no
// lock: systemd owns the socket file and guarantees a single service
// instance.
func FromSystemd() (net.Listener, bool, error) {
	pidStr, hasPID := os.LookupEnv("LISTEN_PID")
	if !hasPID {
		return nil, false, nil
	}
	fdsStr := os.Getenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_FDNAMES")

	pid, err := strconv.Atoi(pidStr)
	if err != nil {
		return nil, false, fmt.Errorf("socket activation: LISTEN_PID=%q is not a number", pidStr)
	}
	if pid != os.Getpid() {
		return nil, false, nil // meant for another process (e.g. our parent)
	}
	n, err := strconv.Atoi(fdsStr)
	if err != nil || n < 0 {
		return nil, false, fmt.Errorf("socket activation: LISTEN_FDS=%q is not a count", fdsStr)
	}
	if n == 0 {
		return nil, false, nil
	}
	for fd := listenFDsStart; fd < listenFDsStart+n; fd++ {
		unix.CloseOnExec(fd)
	}

	fd := listenFDsStart
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return nil, false, fmt.Errorf("socket activation: fd %d is not a socket: %w", fd, err)
	}
	if typ != unix.SOCK_STREAM {
		return nil, false, fmt.Errorf("socket activation: fd %d is not a stream socket (use ListenStream= in the .socket unit)", fd)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, false, fmt.Errorf("socket activation: inspect fd %d: %w", fd, err)
	}
	if _, ok := sa.(*unix.SockaddrUnix); !ok {
		return nil, false, fmt.Errorf("socket activation: fd %d is not a unix socket; the daemon serves only unix sockets, whose peer uid it can check", fd)
	}
	f := os.NewFile(uintptr(fd), "systemd-socket")
	// FileListener dups the descriptor; close the original.
	l, err := net.FileListener(f)
	f.Close()
	if err != nil {
		return nil, false, fmt.Errorf("socket activation: use fd %d: %w", fd, err)
	}
	return l, true, nil
}
