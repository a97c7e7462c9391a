//go:build !unix

package cli

import "io/fs"

// foreignOwner: Windows files have no uid; the ACL is the OS's business.
func foreignOwner(fs.FileInfo) (uid int, foreign bool) { return 0, false }
