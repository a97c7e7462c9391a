//go:build unix && !linux

package socket

import "errors"

// watchDir is Linux-only (inotify); elsewhere Watch polls.
func watchDir(string) (<-chan struct{}, func(), error) {
	return nil, nil, errors.ErrUnsupported
}
