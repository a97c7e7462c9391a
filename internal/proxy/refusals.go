package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hfbroker/hfbroker/internal/peercred"
)

// The proxy listens on TCP, where any local user can connect, and a flood of
// refused requests must not be able to fill the disk or push the grants out
// of the audit log (issue 19 item 6: 120,000 requests in 5 s grew the daemon
// log to 42 MB and rotated every real event out of the audit log). So:
//   - connections from another uid are closed at accept, unread (Linux);
//   - requests refused before any lease matched are counted, not logged;
//   - requests a lease holder gets refused are audited one by one only up to
//     a budget per window, then counted;
// and the counts go out as one Summary per window.

// Summary is the aggregate of the refusals the proxy counted, rather than
// audited, in one window.
type Summary struct {
	Start, End time.Time
	// Connections from another uid, closed before a byte was read.
	Connections int64
	// Requests refused without an audit event of their own: no lease
	// matched (no or unknown token, a foreign Host), or a lease's refusals
	// went over AuditedRefusals in the window.
	Requests int64
	// LastReason is the reason of the last request counted, for a hint.
	LastReason string
}

// String says what was counted, without LastReason: that may quote what a
// client sent (a Host header), and the audit line must not depend on it.
func (s Summary) String() string {
	return fmt.Sprintf("refused %d connections from other users and %d requests without a lease or over the audit budget, since %s",
		s.Connections, s.Requests, s.Start.Format(time.RFC3339))
}

// Defaults for Options.
const (
	DefaultSummaryEvery    = time.Minute
	DefaultAuditedRefusals = 20
	// refusalWritesPerSecond bounds how many refused connections a second
	// get a 403 written; the rest are just closed.
	refusalWritesPerSecond = 10
)

// tally counts refusals for one window and reports them once it ends.
type tally struct {
	every  time.Duration
	budget int
	report func(Summary)

	// reportMu makes reports one at a time, so that close returns only
	// after a report the timer started has been written.
	reportMu sync.Mutex
	mu       sync.Mutex
	cur      Summary
	audited  int // refusals audited one by one in this window
	timer    *time.Timer
	closed   bool
	// writeSec and writes rate-limit the 403s written to other uids.
	writeSec int64
	writes   int
}

func newTally(every time.Duration, budget int, report func(Summary)) *tally {
	if every <= 0 {
		every = DefaultSummaryEvery
	}
	if budget <= 0 {
		budget = DefaultAuditedRefusals
	}
	if report == nil {
		report = func(Summary) {}
	}
	return &tally{every: every, budget: budget, report: report}
}

// startLocked opens a window at the first refusal, and schedules its report.
func (t *tally) startLocked(now time.Time) {
	if t.timer != nil || t.closed {
		return
	}
	t.cur.Start = now
	t.timer = time.AfterFunc(t.every, t.flush)
}

// request counts a refused request that gets no audit event of its own.
func (t *tally) request(reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.startLocked(time.Now())
	t.cur.Requests++
	t.cur.LastReason = reason
}

// connection counts a connection from another uid and says whether a 403
// may still be written to it this second.
func (t *tally) connection(reason string) (write bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	t.startLocked(now)
	t.cur.Connections++
	t.cur.LastReason = reason
	if sec := now.Unix(); sec != t.writeSec {
		t.writeSec, t.writes = sec, 0
	}
	t.writes++
	return t.writes <= refusalWritesPerSecond
}

// audit says whether one more refusal of a lease holder may be audited on
// its own in this window.
func (t *tally) audit() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.startLocked(time.Now())
	if t.audited >= t.budget {
		return false
	}
	t.audited++
	return true
}

// flush reports the window's counts, if any, and starts a new window.
func (t *tally) flush() {
	t.reportMu.Lock()
	defer t.reportMu.Unlock()
	t.mu.Lock()
	s := t.cur
	s.End = time.Now()
	t.cur, t.audited, t.timer = Summary{}, 0, nil
	t.mu.Unlock()
	if s.Connections > 0 || s.Requests > 0 {
		t.report(s)
	}
}

// close reports what is pending; later refusals start no timer.
func (t *tally) close() {
	t.mu.Lock()
	t.closed = true
	if t.timer != nil {
		t.timer.Stop()
	}
	t.mu.Unlock()
	t.flush()
}

// OwnerOnly wraps the proxy's listener so that it hands the server only
// connections opened by uid: the kernel says who opened the other end of a
// loopback connection (peercred.LoopbackOwner). Any other connection, or
// one whose owner cannot be found, is closed unread, after a minimal 403 for
// the first few each second, and counted in the Summary.
//
// Only Linux can look the owner up; elsewhere l is returned as it is, and
// another local user reaching the port still needs a lease token.
func (p *Proxy) OwnerOnly(l net.Listener, uid uint32) net.Listener {
	if runtime.GOOS != "linux" {
		return l
	}
	return &ownerListener{Listener: l, uid: uid, owner: peercred.LoopbackOwner, tally: p.tally, log: p.log}
}

type ownerListener struct {
	net.Listener
	uid   uint32
	owner func(net.Conn) (uint32, error)
	tally *tally
	log   *slog.Logger
	// warned: a failing lookup (sock_diag blocked by a sandbox, say) is
	// logged once, loudly; it refuses the owner too, and would otherwise
	// show only in the summary.
	warned atomic.Bool
}

// refusedResponse is all another uid gets: written without reading the
// request, then the connection is closed.
const refusedResponse = "HTTP/1.1 403 Forbidden\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"X-Error-Message: the hfbroker proxy serves only the user who runs it\r\n" +
	"Connection: close\r\n" +
	"Content-Length: 52\r\n\r\n" +
	"the hfbroker proxy serves only the user who runs it\n"

func (l *ownerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		uid, err := l.owner(c)
		if err == nil && uid == l.uid {
			return c, nil
		}
		reason := fmt.Sprintf("connection from uid %d", uid)
		switch {
		case errors.Is(err, peercred.ErrPeerGone):
			reason = "connection closed before its owner could be checked"
		case err != nil:
			reason = "connection whose owner cannot be checked: " + err.Error()
			if !l.warned.Swap(true) {
				l.log.Error("proxy: cannot check who connects; refusing every connection", "err", err)
			}
		}
		if l.tally.connection(reason) {
			// A fresh socket's send buffer takes this at once; the deadline
			// only keeps the accept loop from ever waiting on a peer.
			_ = c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
			_, _ = c.Write([]byte(refusedResponse))
		}
		_ = c.Close()
	}
}
