package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Latency summarises a set of durations, in microseconds.
type Latency struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean_us"`
	P50  float64 `json:"p50_us"`
	P90  float64 `json:"p90_us"`
	P99  float64 `json:"p99_us"`
	Max  float64 `json:"max_us"`
}

// summarize sorts ds in place and returns its quantiles (nearest rank).
func summarize(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	q := func(p float64) float64 {
		i := int(p*float64(len(ds))+0.5) - 1
		i = max(0, min(i, len(ds)-1))
		return us(ds[i])
	}
	return Latency{
		N:    len(ds),
		Mean: us(sum / time.Duration(len(ds))),
		P50:  q(0.50),
		P90:  q(0.90),
		P99:  q(0.99),
		Max:  us(ds[len(ds)-1]),
	}
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

func (l Latency) String() string {
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s  (n=%d)", fmtUS(l.P50), fmtUS(l.P90), fmtUS(l.P99), fmtUS(l.Max), l.N)
}

// fmtUS prints microseconds with a unit a reader takes in at a glance.
func fmtUS(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f s", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1f ms", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.2f ms", v/1e3)
	}
	return fmt.Sprintf("%.0f µs", v)
}

// ProcSample is what /proc says about a process at one moment.
type ProcSample struct {
	PID        int    `json:"pid"`
	RSSKiB     int64  `json:"rss_kib"`     // VmRSS
	HWMKiB     int64  `json:"hwm_kib"`     // VmHWM: peak RSS since the process started
	Threads    int    `json:"threads"`     // OS threads, not goroutines
	Goroutines int    `json:"goroutines"`  // -1: unknown (see procMain)
	At         string `json:"at,omitzero"` // when, relative to the load
}

// readProc reads /proc/PID/status. It works on the daemon although the
// daemon makes itself non-dumpable: status stays world-readable.
func readProc(pid int) (ProcSample, error) {
	s := ProcSample{PID: pid, Goroutines: -1}
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return s, fmt.Errorf("read process %d status: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fields[0], 10, 64)
		switch k {
		case "VmRSS":
			s.RSSKiB = n
		case "VmHWM":
			s.HWMKiB = n
		case "Threads":
			s.Threads = int(n)
		}
	}
	return s, sc.Err()
}

func (s ProcSample) String() string {
	g := "?"
	if s.Goroutines >= 0 {
		g = strconv.Itoa(s.Goroutines)
	}
	return fmt.Sprintf("rss %s  peak %s  threads %d  goroutines %s", mib(s.RSSKiB), mib(s.HWMKiB), s.Threads, g)
}

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

// countGoroutines counts the goroutines in the last traceback a Go program
// wrote to log (GOTRACEBACK=all, then SIGQUIT): the daemon has no
// introspection endpoint, and this needs no change to it. The runtime's own
// goroutines are left out (see runtimeGoroutine).
func countGoroutines(log []byte) (int, error) {
	// The dump starts at "SIGQUIT: quit"; count the goroutines after the last one.
	i := bytes.LastIndex(log, []byte("SIGQUIT: quit"))
	if i < 0 {
		return -1, fmt.Errorf("no SIGQUIT traceback in the log")
	}
	n := 0
	// Each goroutine is a header line ("goroutine N …:") and its frames, up
	// to a blank line.
	for _, block := range bytes.Split(log[i:], []byte("\n\n")) {
		block = bytes.TrimLeft(block, "\n")
		header, _, _ := bytes.Cut(block, []byte("\n"))
		if bytes.HasPrefix(header, []byte("goroutine ")) && bytes.HasSuffix(bytes.TrimSpace(header), []byte(":")) && !runtimeGoroutine(block) {
			n++
		}
	}
	return n, nil
}

// runtimeGoroutine reports whether a traceback block is a goroutine the Go
// runtime runs for itself: the scheduler's g0, or one that a runtime
// function started (GC mark workers, which only appear after the first
// collection; the sweeper and the scavenger, whose wait reason changes with
// the work they do; the finalizer and cleanup goroutines; the GOMAXPROCS
// updater). Counting them would show "growth" in any daemon that has done
// some work.
func runtimeGoroutine(block []byte) bool {
	if bytes.HasPrefix(block, []byte("goroutine 0 ")) {
		return true
	}
	for _, line := range bytes.Split(block, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("created by runtime.")) {
			return true
		}
	}
	return false
}
