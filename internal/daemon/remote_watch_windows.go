package daemon

import "errors"

// watch is not available on Windows, where the daemon does not run.
func (fw *forwards) watch(int, func()) (func(), error) {
	return nil, errors.ErrUnsupported
}
