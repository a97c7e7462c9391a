package daemon

import (
	"net/http"
	"runtime"
	"sync"
	"time"
)

// procs sets how many Ps (GOMAXPROCS) hfbrokerd's Go code runs on. The
// daemon runs on one P while it only answers calls, and on the runtime's
// default while its proxy forwards requests (issue 16; round 6h of
// docs/benchmarks-analysis.md).
//
// A lease is a few microseconds of Go code between system calls. A second P
// makes the daemon's own threads contend for the CPUs, with each other and
// with their callers. Measured on the 2-core benchmark machine, in
// interleaved pairs of fresh daemons (full benchmark runs, one each, swing
// too much to show it):
//   - 16 lane clients: the lease p99 fell by 10–50% on one P;
//   - 256 clients: the p99 halved, and the slowest call fell by two thirds;
//   - `hfbroker token`: the same wall time.
//
// The proxy streams downloads, where more Ps copy and decrypt more streams
// at once. So while a proxy request is in flight the process has the
// runtime's default, and it goes back to one P a linger after the last.
type procs struct {
	set    func(wide bool) // setRuntimeProcs; tests record
	linger time.Duration

	mu    sync.Mutex
	busy  int       // proxy requests in flight
	wide  bool      // the runtime's default is set
	last  time.Time // when the last request ended
	timer *time.Timer
}

// procsLinger is how long the proxy's Ps stay after its last request: a
// download's requests (one per file, huggingface_hub's workers) follow
// each other closer than that.
const procsLinger = time.Second

// newProcs puts the process on one P (set(false); hfbrokerd passes
// setRuntimeProcs) and returns its governor, unless $GOMAXPROCS chose a
// number: that choice stands, and nil changes nothing.
func newProcs(env func(string) string, set func(wide bool)) *procs {
	if env("GOMAXPROCS") != "" {
		return nil
	}
	p := &procs{set: set, linger: procsLinger}
	p.set(false)
	return p
}

// setRuntimeProcs sets one P, or the runtime's default (which also follows
// the CPU limit of the process's cgroup as it changes).
func setRuntimeProcs(wide bool) {
	if wide {
		runtime.SetDefaultGOMAXPROCS()
	} else {
		runtime.GOMAXPROCS(1)
	}
}

// serve is h with the runtime's default Ps while any of its requests runs.
func (p *procs) serve(h http.Handler) http.Handler {
	if p == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.enter()
		defer p.exit() // also when a broken stream panics out of h
		h.ServeHTTP(w, r)
	})
}

func (p *procs) enter() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.busy++
	if !p.wide {
		p.wide = true
		p.set(true)
	}
}

func (p *procs) exit() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.busy--
	if p.busy > 0 {
		return
	}
	p.last = time.Now()
	if p.timer == nil {
		p.timer = time.AfterFunc(p.linger, p.narrow)
	} else {
		p.timer.Reset(p.linger)
	}
}

// narrow goes back to one P once no request has run for a linger; a timer
// that fires early (reset while it was firing) waits out the rest.
func (p *procs) narrow() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.busy > 0 || !p.wide {
		return
	}
	if left := p.linger - time.Since(p.last); left > 0 {
		p.timer.Reset(left)
		return
	}
	p.wide = false
	p.set(false)
}
