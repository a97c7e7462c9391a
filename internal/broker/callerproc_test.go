package broker

import (
	"sync"
	"testing"
	"time"

	"github.com/hfbroker/hfbroker/internal/audit"
)

// fakeCallerProcess is a connection's process as the daemon pins it
// (osproc.Peer): what it read once, and whether that process still runs.
type fakeCallerProcess struct {
	mu       sync.Mutex
	start    uint64
	exe, cwd string
	exited   bool
	asked    int // Alive calls
}

func (p *fakeCallerProcess) Info() (uint64, string, string, error) {
	return p.start, p.exe, p.cwd, nil
}

func (p *fakeCallerProcess) Alive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asked++
	return !p.exited
}

// countingProcs counts what the broker reads of the process table.
type countingProcs struct {
	*fakeProcs
	mu    sync.Mutex
	reads int
}

func (c *countingProcs) StartTime(pid int) (uint64, error) {
	c.mu.Lock()
	c.reads++
	c.mu.Unlock()
	return c.fakeProcs.StartTime(pid)
}

func (c *countingProcs) Exe(pid int) string {
	c.mu.Lock()
	c.reads++
	c.mu.Unlock()
	return c.fakeProcs.Exe(pid)
}

func (c *countingProcs) Cwd(pid int) string {
	c.mu.Lock()
	c.reads++
	c.mu.Unlock()
	return c.fakeProcs.Cwd(pid)
}

// countingExits counts the watches opened.
type countingExits struct {
	*fakeExits
	adds int
}

func (c *countingExits) Add(pid int) bool {
	c.mu.Lock()
	c.adds++
	c.mu.Unlock()
	return c.fakeExits.Add(pid)
}

// Issue 16, item 4: a client that keeps its connection (loadgen's clients,
// a notebook kernel, a job renewing its lease) had its process read from
// /proc on every git lease, and on the first lease after each watch ended.
// The connection now reads its process once (osproc.Peer), and the broker
// asks the process table nothing about the caller: every lease, git's
// included, and every audit line take the connection's reading, and all the
// process's watched leases share one watch.
func TestAKeptConnectionsProcessIsReadOncePerConnectionNotPerLease(t *testing.T) {
	procs := &countingProcs{fakeProcs: &fakeProcs{start: map[int]uint64{}, ppid: map[int]int{}}}
	procs.set(100, 5)
	exits := &countingExits{fakeExits: newFakeExits()}
	rec := &audit.Memory{}
	b := newLaptopBroker(t, Options{Procs: procs, Exits: exits, Audit: rec})
	cp := &fakeCallerProcess{start: 5, exe: "/usr/bin/python3.12", cwd: "/home/u/notebooks"}
	caller := Caller{UID: 1000, PID: 100, Process: cp}
	var ids []string
	for _, p := range []Purpose{PurposeToken, PurposeExec, PurposeGit, PurposeToken, PurposeGit} {
		g, err := b.Lease(t.Context(), LeaseRequest{Purpose: p, TTL: time.Hour, Caller: caller})
		if err != nil {
			t.Fatalf("%s lease: %v", p, err)
		}
		ids = append(ids, g.Lease.ID)
	}
	if _, err := b.Renew(ids[0], time.Hour, caller); err != nil {
		t.Fatal(err)
	}
	if procs.reads != 0 {
		t.Errorf("the broker read the caller's process table entry %d times; the connection had read it", procs.reads)
	}
	if exits.adds != 1 || !exits.Watching(100) {
		t.Errorf("%d watches opened for one process's leases, want 1", exits.adds)
	}
	if cp.asked != 3 {
		t.Errorf("the connection's process was asked whether it runs %d times, want 3 (when its watch was opened, and for each git lease, which no watch covers)", cp.asked)
	}
	n := 0
	for _, ev := range rec.Events() {
		if ev.Event != "lease.granted" && ev.Event != "lease.renewed" {
			continue
		}
		n++
		if ev.PID != 100 || ev.Exe != cp.exe || ev.Cwd != cp.cwd {
			t.Errorf("%s names pid %d, %q in %q; want the connection's process", ev.Event, ev.PID, ev.Exe, ev.Cwd)
		}
	}
	if n != 6 {
		t.Errorf("%d audit lines, want 6", n)
	}
}

// The pid SO_PEERCRED gives a connection is the connecting process's at
// connect(2) only. A child that inherited the connection may keep calling
// after that process exited, when the pid may name another process: the
// lease must not go to that process (its start time and exe in the record,
// its life as the lease's, a pidfd of it as the watch). Before, the broker
// read /proc for the pid at the call and leased to whatever held it then.
func TestALeaseNeverGoesToAProcessThatReusedTheCallersPid(t *testing.T) {
	procs := &countingProcs{fakeProcs: &fakeProcs{start: map[int]uint64{}, ppid: map[int]int{}}}
	exits := &countingExits{fakeExits: newFakeExits()}
	rec := &audit.Memory{}
	b := newLaptopBroker(t, Options{Procs: procs, Exits: exits, Audit: rec})
	// The connection's process (started at 5) has exited; pid 100 is
	// another process's now (started at 9).
	procs.set(100, 9)
	cp := &fakeCallerProcess{start: 5, exe: "/usr/bin/python3", cwd: "/home/u", exited: true}
	caller := Caller{UID: 1000, PID: 100, Process: cp}
	for _, p := range []Purpose{PurposeExec, PurposeToken, PurposeGit, PurposeProxy} {
		if g, err := b.Lease(t.Context(), LeaseRequest{Purpose: p, TTL: time.Hour, Caller: caller}); err == nil {
			t.Errorf("%s lease granted to the process that reused the caller's pid: processes %v", p, g.Lease.Processes)
		} else if KindOf(err) != KindInvalid {
			t.Errorf("%s lease: %v, want the caller's process has exited", p, err)
		}
	}
	if b.LeaseCount() != 0 {
		t.Errorf("%d leases live", b.LeaseCount())
	}
	if procs.reads != 0 {
		t.Errorf("the broker read pid 100's process table entry (%d reads): it belongs to another process", procs.reads)
	}
	for _, ev := range rec.Events() {
		if ev.Event == "lease.granted" {
			t.Errorf("audited a grant: %+v", ev)
		}
	}
}

// A connection whose process is watched for another process's leases (it
// opened a second connection) shares that watch; one whose pid the watcher
// watches as another process (the pid was reused) does not: the
// connection's own process is asked, and a lease for it, while it runs, is
// granted but takes over no other process's watch record.
func TestAWatchOfAnotherProcessWithTheSamePidIsNotShared(t *testing.T) {
	procs := &countingProcs{fakeProcs: &fakeProcs{start: map[int]uint64{}, ppid: map[int]int{}}}
	exits := &countingExits{fakeExits: newFakeExits()}
	b := newLaptopBroker(t, Options{Procs: procs, Exits: exits, Audit: &audit.Memory{}})
	procs.set(100, 9)
	now := &fakeCallerProcess{start: 9, exe: "/usr/bin/new", cwd: "/new"}
	if _, err := b.Lease(t.Context(), LeaseRequest{Purpose: PurposeExec, TTL: time.Hour, Caller: Caller{UID: 1000, PID: 100, Process: now}}); err != nil {
		t.Fatal(err)
	}
	old := &fakeCallerProcess{start: 5, exe: "/usr/bin/old", cwd: "/old", exited: true}
	if _, err := b.Lease(t.Context(), LeaseRequest{Purpose: PurposeExec, TTL: time.Hour, Caller: Caller{UID: 1000, PID: 100, Process: old}}); err == nil {
		t.Error("a lease went to the exited process through the watch of the process that has its pid now")
	}
	if old.asked != 1 {
		t.Errorf("the exited connection's process was asked %d times whether it runs, want 1", old.asked)
	}
	if b.LeaseCount() != 1 {
		t.Errorf("%d leases live, want the live process's 1", b.LeaseCount())
	}
}
