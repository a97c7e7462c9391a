//go:build !linux

package osproc

import "errors"

// OpenPidfd is Linux's; elsewhere processes are polled.
func OpenPidfd(int) (int, error) { return -1, errors.ErrUnsupported }
