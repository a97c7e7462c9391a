package wallclock

import (
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Alarm is one armed-or-not wall-clock alarm.
type Alarm struct {
	f *os.File
	c chan struct{}
}

// New makes an Alarm, disarmed; Close releases it.
func New() (*Alarm, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_REALTIME, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	a := &Alarm{f: os.NewFile(uintptr(fd), "timerfd"), c: make(chan struct{}, 1)}
	go a.wait()
	return a, nil
}

// wait reads the timerfd (in the runtime's poller) and reports each expiry
// and each setting of the clock on C.
func (a *Alarm) wait() {
	var buf [8]byte
	for {
		_, err := a.f.Read(buf[:])
		// ECANCELED: the clock was set, which may have moved the alarm's
		// time into the past; the owner looks at the clock and sets it
		// again.
		if err != nil && !errors.Is(err, unix.ECANCELED) {
			return // closed
		}
		select {
		case a.c <- struct{}{}:
		default:
		}
	}
}

// C receives when the alarm's time has come, or the clock was set.
func (a *Alarm) C() <-chan struct{} { return a.c }

// Set arms the alarm for t (a time already past fires at once), or
// disarms it when t is zero.
func (a *Alarm) Set(t time.Time) error {
	var spec unix.ItimerSpec
	if !t.IsZero() {
		spec.Value = unix.NsecToTimespec(max(t.UnixNano(), 1)) // 0 would disarm
	}
	raw, err := a.f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.TimerfdSettime(int(fd), unix.TFD_TIMER_ABSTIME|unix.TFD_TIMER_CANCEL_ON_SET, &spec, nil)
	}); err != nil {
		return err
	}
	return serr
}

// Close disarms and releases the alarm.
func (a *Alarm) Close() error { return a.f.Close() }
