package grpccred

import (
	"errors"
	"log/slog"
	"net"
	"testing"

	"github.com/hfbroker/hfbroker/internal/peercred"
)

// knownConn is a connection whose peer its server read at accept, as the
// daemon's admission does; it is no unix socket, so a handshake that asked
// the kernel again would fail.
type knownConn struct {
	net.Conn
	creds peercred.Creds
	proc  any
}

func (c knownConn) PeerCreds() peercred.Creds { return c.creds }
func (c knownConn) PeerProcess() any          { return c.proc }

// Issue 16, item 4: the daemon read each connection's SO_PEERCRED twice
// (admission, then the guard's handshake: two getsockopt and two
// getsockname). The handshake now takes what admission read, and hands the
// connection's process on to the handlers.
func TestTheHandshakeTakesTheCredentialsAdmissionRead(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	proc := new(int)
	g := NewGuard(1000, slog.New(slog.DiscardHandler))
	_, ai, err := g.Creds.ServerHandshake(knownConn{Conn: a, creds: peercred.Creds{UID: 1000, GID: 1000, PID: 4242}, proc: proc})
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	got := ai.(AuthInfo)
	if got.UID != 1000 || got.PID != 4242 || got.Foreign || got.Process != proc {
		t.Fatalf("AuthInfo = %+v, want admission's credentials and process", got)
	}

	// Another uid is still marked for refusal, and gets no process.
	_, ai, err = g.Creds.ServerHandshake(knownConn{Conn: a, creds: peercred.Creds{UID: 1001, PID: 7}, proc: proc})
	if err != nil {
		t.Fatalf("handshake of another uid: %v", err)
	}
	if got := ai.(AuthInfo); !got.Foreign || got.Process != nil {
		t.Fatalf("another uid's AuthInfo = %+v, want Foreign and no process", got)
	}

	// A connection nobody read still has its peer asked of the kernel.
	if _, _, err := g.Creds.ServerHandshake(a); !errors.Is(err, peercred.ErrNotUnix) {
		t.Fatalf("handshake of a pipe: %v, want ErrNotUnix", err)
	}
}
