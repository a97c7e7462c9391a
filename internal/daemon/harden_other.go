//go:build !linux && !windows

package daemon

import "golang.org/x/sys/unix"

// harden stops core files; macOS has no PR_SET_DUMPABLE.
func harden() error {
	return unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
}
