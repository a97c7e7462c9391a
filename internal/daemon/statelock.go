package daemon

import "fmt"

// stateLockUnsupported: the state directory's filesystem takes no locks.
// The daemon starts anyway, with a warning in its log.
type stateLockUnsupported struct {
	path string
	err  error
}

func (e *stateLockUnsupported) Error() string {
	return fmt.Sprintf("lock %s: %v; nothing stops a second hfbrokerd (on another socket) from sharing this token store", e.path, e.err)
}
