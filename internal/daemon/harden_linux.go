package daemon

import (
	"errors"

	"golang.org/x/sys/unix"
)

// harden keeps tokens out of core dumps and away from same-uid debuggers:
// non-dumpable makes /proc/PID/{mem,environ} root-only and refuses ptrace;
// RLIMIT_CORE=0 stops core files (as ssh-agent does).
func harden() error {
	return errors.Join(
		unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0),
		unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}),
	)
}
