package daemon

import (
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/hfbroker/hfbroker/internal/osproc"
	"github.com/hfbroker/hfbroker/internal/peercred/grpccred"
)

// Issue 16, item 4: admission reads a connection's peer once, for the
// connection's life: its credentials, which the guard's handshake takes
// from it (grpccred.Known) instead of asking the kernel again, and its
// process (osproc.Peer), which the broker reads once per connection rather
// than per call. Through the lane's wrapping and gRPC's (sniffedConn) alike.
func TestAdmissionPinsThePeerForTheConnectionsLife(t *testing.T) {
	dir, err := os.MkdirTemp("", "hfbc")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	l, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dialed, err := net.Dial("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer dialed.Close()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	p := newPeerCounter(defaultConnLimits(), uint32(os.Getuid()), slog.New(slog.DiscardHandler))
	counted, err := p.admit(c)
	if err != nil {
		t.Fatal(err)
	}
	defer counted.Close()
	for name, k := range map[string]any{"lane": counted, "gRPC": &sniffedConn{countedConn: counted}} {
		known, ok := k.(grpccred.Known)
		if !ok {
			t.Fatalf("%s: the admitted connection does not hand its credentials on", name)
		}
		if cr := known.PeerCreds(); int(cr.PID) != os.Getpid() || int(cr.UID) != os.Getuid() {
			t.Errorf("%s: PeerCreds = %+v, want this process", name, cr)
		}
		proc, ok := known.PeerProcess().(*osproc.Peer)
		if !ok || proc.PID() != os.Getpid() {
			t.Fatalf("%s: PeerProcess = %v, want this process's osproc.Peer", name, known.PeerProcess())
		}
		if !proc.Alive() {
			t.Errorf("%s: the peer, this process, is not alive", name)
		}
	}
}
