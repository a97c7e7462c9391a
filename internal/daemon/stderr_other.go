//go:build !linux && !darwin

package daemon

import "os"

// redirectStderr is a no-op here: the rotated log keeps what the runtime
// writes to stderr.
func redirectStderr(*os.File) error { return nil }
