//go:build unix

package cli

import (
	"io/fs"
	"os"
	"syscall"
)

// foreignOwner returns the uid owning fi when it is not this user.
func foreignOwner(fi fs.FileInfo) (uid int, foreign bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), int(st.Uid) != os.Geteuid()
}
