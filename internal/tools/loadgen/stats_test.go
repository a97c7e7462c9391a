package main

import (
	"testing"
	"time"
)

func TestCountGoroutinesCountsOnlyTheProgramsOwn(t *testing.T) {
	dump := []byte("earlier output\nSIGQUIT: quit\nPC=0x1 m=0 sigcode=0\n\n" +
		"goroutine 0 gp=0x1 m=0 mp=0x2 [idle]:\nruntime.futexsleep()\n\n" +
		"goroutine 1 gp=0x3 m=nil [select]:\nmain.main()\n\n" +
		"goroutine 2 gp=0x4 m=nil [force gc (idle)]:\nruntime.gopark()\nruntime.forcegchelper()\ncreated by runtime.init.7 in goroutine 1\n\n" +
		"goroutine 533 gp=0x5 m=nil [GC worker (idle)]:\nruntime.gcBgMarkWorker()\ncreated by runtime.gcBgMarkStartWorkers in goroutine 20\n\n" +
		// The scavenger's wait reason is "GC scavenge wait" when idle and
		// "sleep" after it has given memory back.
		"goroutine 4 gp=0x7 m=nil [sleep]:\nruntime.bgscavenge()\ncreated by runtime.gcenable in goroutine 1\n\n" +
		"goroutine 26 gp=0x6 m=nil [IO wait]:\ninternal/poll.runtime_pollWait()\ncreated by github.com/x/daemon.Run in goroutine 1\n")
	n, err := countGoroutines(dump)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("counted %d goroutines, want 2 (main and the IO wait; not g0, force gc, a GC worker or the scavenger)", n)
	}
	if _, err := countGoroutines([]byte("no dump here")); err == nil {
		t.Error("a log without a SIGQUIT dump was accepted")
	}
}

func TestSummarizeUsesNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Microsecond)
	}
	got := summarize(ds)
	want := Latency{N: 100, Mean: 50.5, P50: 50, P90: 90, P99: 99, Max: 100}
	if got != want {
		t.Errorf("summarize(1..100µs) = %+v, want %+v", got, want)
	}
}
