//go:build !linux

package broker

// pidWatcher is Linux-only; elsewhere the reaper polls.
type pidWatcher struct{}

func newPidWatcher() *pidWatcher        { return nil }
func (w *pidWatcher) add(int) bool      { return false }
func (w *pidWatcher) wait() []int       { return nil }
func (w *pidWatcher) interrupt()        {}
func (w *pidWatcher) close()            {}
func (w *pidWatcher) watching(int) bool { return false }
