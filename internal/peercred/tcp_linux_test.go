package peercred

import (
	"errors"
	"net"
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// TestLoopbackOwnerFindsTheConnectingSocketsUID asks sock_diag about a real
// loopback connection from both ends: each finds the uid that opened the
// other (issue 19 item 6: the proxy refuses other users by this answer).
func TestLoopbackOwnerFindsTheConnectingSocketsUID(t *testing.T) {
	client, server := loopbackPair(t, func(addr string) (net.Conn, error) { return net.Dial("tcp", addr) })

	for name, c := range map[string]net.Conn{"the server's view of the client": server, "the client's view of the server": client} {
		uid, err := LoopbackOwner(c)
		if err != nil {
			t.Fatalf("%s: LoopbackOwner: %v", name, err)
		}
		if uid != uint32(os.Getuid()) {
			t.Errorf("%s: LoopbackOwner = %d; want %d", name, uid, os.Getuid())
		}
	}

	// Once the client has closed its socket, no process owns it: the kernel
	// would report uid 0 for what is left, which must not pass for root.
	client.Close()
	if uid, err := LoopbackOwner(server); !errors.Is(err, ErrPeerGone) {
		t.Errorf("after the client closed: LoopbackOwner = %d, %v; want ErrPeerGone", uid, err)
	}
}

func TestLoopbackOwnerRefusesWhatIsNotLoopbackTCP(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := LoopbackOwner(a); !errors.Is(err, ErrNotLoopback) {
		t.Errorf("LoopbackOwner(pipe) error = %v; want ErrNotLoopback", err)
	}
}

// TestLoopbackOwnerFindsAnotherUsersSocket runs the connecting side as uid
// 65534: as root, the dialling thread's filesystem uid (which the kernel
// stamps on a new socket) is set to it for the socket(2) call only.
func TestLoopbackOwnerFindsAnotherUsersSocket(t *testing.T) {
	if os.Getuid() != 0 {
		if os.Getenv("HFBROKER_TEST_REQUIRE_ROOT") == "1" {
			t.Fatal("this test needs root to open a socket as uid 65534 (HFBROKER_TEST_REQUIRE_ROOT=1)")
		}
		t.Skip("needs root to open a socket as uid 65534; set HFBROKER_TEST_REQUIRE_ROOT=1 to make this fatal")
	}
	const nobody = 65534
	_, server := loopbackPair(t, func(addr string) (net.Conn, error) { return dialAs(nobody, addr) })
	uid, err := LoopbackOwner(server)
	if err != nil || uid != nobody {
		t.Fatalf("LoopbackOwner = %d, %v; want %d", uid, err, nobody)
	}
}

// dialAs dials with the calling thread's filesystem uid set to uid.
func dialAs(uid int, addr string) (net.Conn, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.Setfsuid(uid); err != nil {
		return nil, err
	}
	defer unix.Setfsuid(0)
	return net.Dial("tcp", addr)
}

// loopbackPair returns both ends of a TCP connection over 127.0.0.1, the
// client's opened by dial; both are closed when the test ends.
func loopbackPair(t *testing.T, dial func(addr string) (net.Conn, error)) (client, server net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err = dial(l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}
