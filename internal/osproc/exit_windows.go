package osproc

import "errors"

// Exit is not available on Windows, where the daemon does not run.
type Exit struct{}

// WatchExit fails on Windows.
func WatchExit(int) (*Exit, error) { return nil, errors.ErrUnsupported }

// Wait returns at once: there is nothing to wait for.
func (*Exit) Wait(<-chan struct{}) bool { return false }
