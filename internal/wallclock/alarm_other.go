//go:build !linux

package wallclock

import (
	"errors"
	"time"
)

// Alarm is Linux's (a timerfd); elsewhere New fails and the broker's
// reaper looks at the wall clock every 30 s instead.
type Alarm struct{}

// New is unsupported here.
func New() (*Alarm, error) { return nil, errors.ErrUnsupported }

func (*Alarm) C() <-chan struct{}  { return nil }
func (*Alarm) Set(time.Time) error { return errors.ErrUnsupported }
func (*Alarm) Close() error        { return nil }
