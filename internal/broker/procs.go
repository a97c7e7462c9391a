package broker

// Procs tells the broker about processes: whether a leased process still
// runs (its start time, which changes when a pid is reused), its parent, and
// its executable for the audit log.
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

type osProcs struct{}

func (osProcs) StartTime(pid int) (uint64, error) { return procStartTime(pid) }
func (osProcs) Parent(pid int) (int, error)       { return procParent(pid) }
func (osProcs) Exe(pid int) string                { return procExe(pid) }
func (osProcs) Cwd(pid int) string                { return procCwd(pid) }
func (osProcs) CanFollow() bool                   { return canListProcs }
func (osProcs) Carriers(uid int, key string, values []string, since uint64) (map[string][]int, bool) {
	return procCarriers(uid, key, values, since)
}

// OSProcs returns the operating system's process table.
func OSProcs() Procs { return osProcs{} }
