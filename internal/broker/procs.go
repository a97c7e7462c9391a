package broker

import (
	"errors"
	"time"
)

// Procs tells the broker about processes: whether a leased process still
// runs (its start time, which changes when a pid is reused), its parent, and
// its executable for the audit log. The daemon gives it osproc.Table, which
// reads /proc; tests give a table they control.
type Procs interface {
	StartTime(pid int) (uint64, error)
	Parent(pid int) (int, error)
	Exe(pid int) string
	Cwd(pid int) string
	// CanFollow reports whether Carriers can list processes here.
	CanFollow() bool
	// Carriers returns, for each of values, the live processes of uid whose
	// environment holds key=value; unsure says that a process of uid
	// started at or after since (a start time) could not be read.
	Carriers(uid int, key string, values []string, since uint64) (found map[string][]int, unsure bool)
}

// ExitWatcher learns from the kernel when processes exit, so that a lease
// ends as soon as its process does and an idle daemon is not woken by polls:
// osproc.Watcher (pidfds in an epoll set) on Linux. Processes it does not
// watch are polled through Procs every ReapInterval.
//
// The broker owns it from New on: Run calls Wait on a goroutine of its
// own, and Interrupt, then Close, when it returns.
type ExitWatcher interface {
	// Add watches pid until it exits or Remove is called; adding a watched
	// pid does nothing. False: pid cannot be watched (the reaper polls it
	// instead).
	Add(pid int) bool
	// Remove stops watching pid (its last lease ended); Wait will not
	// report it.
	Remove(pid int)
	// Watching reports whether pid is watched.
	Watching(pid int) bool
	// Wait blocks until watched processes exit and returns their pids; once
	// Interrupt has been called it returns nil at once, then and from then on.
	Wait() []int
	Interrupt()
	Close()
}

// WallAlarm is an alarm at a wall-clock time that fires through a suspend
// and when the clock is set (then the reaper reads the clock and sets it
// again): wallclock.Alarm.
type WallAlarm interface {
	// Set arms the alarm for t, or disarms it when t is zero.
	Set(t time.Time) error
	C() <-chan struct{}
	Close() error
}

// noProcs is the process table of a broker given none: it knows no
// process, so a lease that names one is refused, and nothing is followed.
type noProcs struct{}

var errNoProcs = errors.New("no process table")

func (noProcs) StartTime(int) (uint64, error) { return 0, errNoProcs }
func (noProcs) Parent(int) (int, error)       { return 0, errNoProcs }
func (noProcs) Exe(int) string                { return "" }
func (noProcs) Cwd(int) string                { return "" }
func (noProcs) CanFollow() bool               { return false }
func (noProcs) Carriers(int, string, []string, uint64) (map[string][]int, bool) {
	return nil, false
}
