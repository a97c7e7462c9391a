//go:build !linux

package osproc

import "errors"

// Watcher is Linux-only (pidfds); elsewhere the reaper polls.
type Watcher struct{}

// NewWatcher fails here: there are no pidfds to watch.
func NewWatcher() (*Watcher, error) { return nil, errors.ErrUnsupported }

func (w *Watcher) Add(int) bool      { return false }
func (w *Watcher) Remove(int)        {}
func (w *Watcher) Watching(int) bool { return false }
func (w *Watcher) Wait() []int       { return nil }
func (w *Watcher) Interrupt()        {}
func (w *Watcher) Close()            {}
