// Package osproc is the operating system's processes as the broker sees
// them: start times, parents, executables and directories read from /proc,
// the processes that carry a lease's id in their environment, and (on
// Linux) pidfds in an epoll set that say when a process exits. The daemon
// gives these to the broker (broker.Procs, broker.ExitWatcher), which does
// no I/O of its own.
package osproc

// Table is the operating system's process table; it is a broker.Procs.
// Without /proc (macOS, the BSDs) liveness is a signal-0 probe that cannot
// see pid reuse, and no process tree can be followed.
type Table struct{}

// StartTime returns when pid started, in clock ticks since boot; it changes
// when the pid is reused. An exited process is an error.
func (Table) StartTime(pid int) (uint64, error) { return startTime(pid) }

// Parent returns pid's parent.
func (Table) Parent(pid int) (int, error) { return parent(pid) }

// Exe returns pid's executable, "" when unknown.
func (Table) Exe(pid int) string { return exe(pid) }

// Cwd returns pid's working directory, "" when unknown.
func (Table) Cwd(pid int) string { return cwd(pid) }

// CanFollow reports whether Carriers can list processes here.
func (Table) CanFollow() bool { return canList }

// Carriers returns, for each of values, the live processes of uid whose
// environment holds key=value; unsure says that a process of uid started at
// or after since could not be read.
func (Table) Carriers(uid int, key string, values []string, since uint64) (map[string][]int, bool) {
	return carriers(uid, key, values, since)
}
