package broker

// Procs tells the broker about processes: whether a leased process still
// runs (its start time, which changes when a pid is reused), its parent, and
// its executable for the audit log.
type Procs interface {
	StartTime(pid int) (uint64, error)
	Parent(pid int) (int, error)
	Exe(pid int) string
	Cwd(pid int) string
}

type osProcs struct{}

func (osProcs) StartTime(pid int) (uint64, error) { return procStartTime(pid) }
func (osProcs) Parent(pid int) (int, error)       { return procParent(pid) }
func (osProcs) Exe(pid int) string                { return procExe(pid) }
func (osProcs) Cwd(pid int) string                { return procCwd(pid) }

// OSProcs returns the operating system's process table.
func OSProcs() Procs { return osProcs{} }
