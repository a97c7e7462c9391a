//go:build !linux

package daemon

import "errors"

// openPidfd is Linux's; elsewhere the forward's ssh process is polled.
func openPidfd(int) (int, error) { return -1, errors.ErrUnsupported }
