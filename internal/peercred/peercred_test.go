//go:build linux || darwin

package peercred

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestGetReadsTheKernelCredentialsOnBothEnds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	self := Creds{UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), PID: int32(os.Getpid())}
	for name, c := range map[string]net.Conn{"the server's view of the client": server, "the client's view of the server": client} {
		got, err := Get(c)
		if err != nil {
			t.Fatalf("%s: Get: %v", name, err)
		}
		if got != self {
			t.Errorf("%s: Get = %+v; want %+v", name, got, self)
		}
	}
}

func TestGetRefusesConnectionsWithoutAKernelPeer(t *testing.T) {
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	tc, err := net.Dial("tcp", tl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()

	tests := []struct {
		name string
		conn net.Conn
	}{
		{name: "a TCP connection has no peer uid", conn: tc},
		{name: "an in-memory pipe has no descriptor", conn: p1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if c, err := Get(tc.conn); !errors.Is(err, ErrNotUnix) {
				t.Fatalf("Get = %+v, %v; want ErrNotUnix", c, err)
			}
		})
	}
}
