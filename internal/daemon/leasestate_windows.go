package daemon

import (
	"io/fs"
	"os"
)

// openStateFile opens the lease state; the directory is the user's own.
func openStateFile(path string) (*os.File, error) { return os.Open(path) }

// fileOwner is unknown here: the state directory's ACL is the guard.
func fileOwner(fs.FileInfo) (int, bool) { return 0, false }

// statePermsMeaningful: Windows reports no Unix permission bits.
const statePermsMeaningful = false
