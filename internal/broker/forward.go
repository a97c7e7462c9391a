package broker

import (
	"fmt"
	"time"
)

// Forward is the way a lease came in through the daemon's restricted socket
// (remote.sock, issue 15): an ssh forward that `hfbroker ssh` registered, or
// a direct connection such as a container's bind mount. The zero Forward is
// the main socket.
type Forward struct {
	// ID names the forward: "fwd-PID-START" for ssh, "direct-PID-START" else.
	ID string
	// Host is the ssh destination; empty for a direct connection.
	Host string
	// PID is the ssh process on this machine (or the direct peer) and
	// Started when it started.
	PID     int
	Started time.Time
}

// String is the forward as the audit log records it.
func (f Forward) String() string {
	if f.ID == "" {
		return ""
	}
	if f.Host == "" {
		return fmt.Sprintf("direct (pid %d, started %s)", f.PID, f.Started.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("ssh %s (ssh pid %d, started %s)", f.Host, f.PID, f.Started.UTC().Format(time.RFC3339))
}

// CauseForwardClosed is why a forward's leases end when its ssh session does.
const CauseForwardClosed = "forward-closed"

// EndForward ends every live lease that came through the forward id, and
// returns how many it ended.
func (b *Broker) EndForward(id string) int {
	if id == "" {
		return 0
	}
	b.mu.Lock()
	ended := b.takeLeasesLocked(func(l *liveLease) bool { return l.moreOrNone().Forward.ID == id })
	b.mu.Unlock()
	b.endLeases(ended, CauseForwardClosed)
	return len(ended)
}
