//go:build !windows

package daemon

import "golang.org/x/sys/unix"

// fdLimit returns the process's descriptor limit (the soft RLIMIT_NOFILE,
// which Go raises to the hard one at start-up), or 0 when unknown.
func fdLimit() uint64 {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	return uint64(r.Cur) // int64 on some BSDs
}
