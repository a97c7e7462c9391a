//go:build !unix

package keystore

import (
	"os"
)

// openVault opens the vault for reading, refusing anything at the path that
// is not a regular file (a symbolic link included). Windows has no
// O_NOFOLLOW; the check before opening is the best it offers.
func openVault(path string) (*os.File, error) {
	st, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, unsafeVault(path, st.Mode())
	}
	return os.Open(path)
}
