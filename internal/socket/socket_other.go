//go:build !unix

package socket

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"time"
)

// errUnsupported explains that this platform has no socket support yet;
// Windows will need a named pipe with an owner-only DACL instead.
var errUnsupported = fmt.Errorf("unix socket handling is not implemented on %s: %w", runtime.GOOS, errors.ErrUnsupported)

// Listener is the daemon's listening socket; not available on this platform.
type Listener struct{ net.Listener }

// DefaultPath is not implemented on this platform.
func DefaultPath() (string, error) { return "", errUnsupported }

// PrepareDir is not implemented on this platform.
func PrepareDir(string) error { return errUnsupported }

// CheckDir has nothing to check where there is no socket.
func CheckDir(string) error { return nil }

// Listen is not implemented on this platform.
func Listen(string) (*Listener, error) { return nil, errUnsupported }

// FromSystemd never finds a socket on this platform.
func FromSystemd() (net.Listener, bool, error) { return nil, false, nil }

// Path returns "".
func (l *Listener) Path() string { return "" }

// Watch returns a closed channel.
func (l *Listener) Watch(context.Context, time.Duration) <-chan error {
	ch := make(chan error)
	close(ch)
	return ch
}
