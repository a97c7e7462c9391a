//go:build !linux

package osproc

import "errors"

// PeerPidfd is Linux's (SO_PEERPIDFD); elsewhere a Peer goes by its pid and
// start time.
func PeerPidfd(int) (int, error) { return -1, errors.ErrUnsupported }

// pidfdExited and closePidfd are never reached: there are no pidfds here.
func pidfdExited(int) bool { return false }
func closePidfd(int)       {}
