package broker

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hfbroker/hfbroker/internal/audit"
)

// reaperWorld is a broker whose Run counts how often it wakes (each wake
// reads the clock once), inside a synctest bubble so hours pass at once.
type reaperWorld struct {
	b     *Broker
	procs *fakeProcs
	wakes atomic.Int64
	idle  atomic.Int64
}

func newReaperWorld(t *testing.T) *reaperWorld {
	w := &reaperWorld{procs: &fakeProcs{start: map[int]uint64{}, ppid: map[int]int{}}}
	w.b = newLaptopBroker(t, Options{
		Procs:  w.procs,
		Now:    func() time.Time { w.wakes.Add(1); return time.Now() },
		OnIdle: func() { w.idle.Add(1) },
	})
	return w
}

// Issue 16: an idle daemon sleeps. Before, the reaper ticked every 200 ms
// whether or not a lease was live (18,000 wakes an hour).
func TestReaperSleepsWithNoLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newReaperWorld(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go w.b.Run(ctx)
		synctest.Wait()
		before := w.wakes.Load()
		time.Sleep(time.Hour)
		synctest.Wait()
		if n := w.wakes.Load() - before; n != 0 {
			t.Errorf("the reaper woke %d times in an idle hour; want 0", n)
		}
	})
}

// With many live leases the reaper wakes for the next deadline (or at most
// every maxReapSleep, for the wall clock), not every ReapInterval; a lease
// granted with an earlier deadline wakes it, and the lease ends on time.
func TestReaperSleepsUntilTheNextDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newReaperWorld(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go w.b.Run(ctx)
		for range 1000 {
			if _, err := w.b.Lease(ctx, LeaseRequest{Purpose: PurposeToken, TTL: 12 * time.Hour}); err != nil {
				t.Fatal(err)
			}
		}
		short, err := w.b.Lease(ctx, LeaseRequest{Purpose: PurposeToken, TTL: 10 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		before := w.wakes.Load()
		time.Sleep(10*time.Minute + time.Nanosecond)
		synctest.Wait()
		if _, live := w.b.LeaseValid(short.Lease.ID); live {
			t.Fatal("the 10-minute lease outlived its TTL")
		}
		if n := w.b.LeaseCount(); n != 1000 {
			t.Fatalf("%d leases live; want the 1,000 long ones", n)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		// 70 minutes at one wake per maxReapSleep, each reading the clock
		// twice (arm and reap), plus the short lease's own deadline.
		limit := int64(2*(70*time.Minute/maxReapSleep) + 4)
		if n := w.wakes.Load() - before; n > limit {
			t.Errorf("the reaper read the clock %d times in 70 minutes with 1,000 long leases; want at most %d", n, limit)
		}
	})
}

// Issue 16: memory comes back. A Go map never shrinks, so after a burst the
// lease map is made anew and the daemon is told (OnIdle) to return memory.
func TestReaperGivesBackABurstsMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newReaperWorld(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go w.b.Run(ctx)
		for range shrinkAfter {
			if _, err := w.b.Lease(ctx, LeaseRequest{Purpose: PurposeToken, TTL: time.Minute}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if n := w.b.LeaseCount(); n != 0 {
			t.Fatalf("%d leases live after their TTL", n)
		}
		if n := w.idle.Load(); n != 1 {
			t.Errorf("OnIdle called %d times after the burst ended; want 1", n)
		}
	})
}

// fakeAlarm is a WallAlarm the test fires.
type fakeAlarm struct {
	mu     sync.Mutex
	at     time.Time
	c      chan struct{}
	closed bool
	sets   int
}

func (a *fakeAlarm) Set(t time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.at = t
	a.sets++
	return nil
}
func (a *fakeAlarm) C() <-chan struct{} { return a.c }
func (a *fakeAlarm) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	return nil
}
func (a *fakeAlarm) setFor() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.at
}

// With a wall-clock alarm the reaper sleeps until the next lease's end,
// however far away (a day at most), not 30 s at a time: the kernel wakes it
// at the lease's wall-clock end even across a suspend. When the alarm
// fires (here: the wall clock jumped past the end while the monotonic
// clock did not), the lease ends; with no lease left the alarm is
// disarmed, and Run closes it when it returns.
func TestAWallAlarmLetsTheReaperSleepUntilTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var jump atomic.Int64 // how far the wall clock has jumped ahead
		now := func() time.Time { return time.Now().Round(0).Add(time.Duration(jump.Load())) }
		alarm := &fakeAlarm{c: make(chan struct{}, 1)}
		procs := &fakeProcs{start: map[int]uint64{}, ppid: map[int]int{}}
		b := newLaptopBroker(t, Options{Procs: procs, Audit: &audit.Memory{}, WallAlarm: alarm, Now: now})
		ctx, cancel := context.WithCancel(t.Context())
		ran := make(chan struct{})
		go func() { defer close(ran); b.Run(ctx) }()
		g, err := b.Lease(ctx, LeaseRequest{Purpose: PurposeToken, TTL: 10 * time.Hour, Caller: Caller{UID: 1000}})
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		b.mu.Lock()
		reapAt := b.reapAt
		b.mu.Unlock()
		if want := g.Lease.ExpiresAt; !reapAt.Round(0).Equal(want) {
			t.Errorf("the reaper wakes at %v, want the lease's end %v", reapAt, want)
		}
		if at := alarm.setFor(); !at.Equal(g.Lease.ExpiresAt) {
			t.Errorf("the alarm is set for %v, want the lease's end %v", at, g.Lease.ExpiresAt)
		}
		time.Sleep(time.Hour) // an hour of monotonic time: no wake, the lease lives
		synctest.Wait()
		if _, live := b.LeaseValid(g.Lease.ID); !live {
			t.Fatal("the lease ended early")
		}
		jump.Store(int64(10 * time.Hour)) // the machine slept through the end
		alarm.c <- struct{}{}
		synctest.Wait()
		if cause, _ := b.EndedCause(g.Lease.ID); cause == "" {
			t.Fatal("the alarm fired after the lease's wall-clock end, and the lease lives on")
		}
		if at := alarm.setFor(); !at.IsZero() {
			t.Errorf("with no lease left the alarm is still set for %v", at)
		}
		cancel()
		<-ran
		if !alarm.closed {
			t.Error("Run returned without closing the alarm")
		}
	})
}

// firingAlarm is a WallAlarm that fires at its time, as a timerfd does:
// at once when set for a time that has passed.
type firingAlarm struct {
	fakeAlarm
	timer *time.Timer
}

func (a *firingAlarm) Set(t time.Time) error {
	a.fakeAlarm.Set(t)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.timer != nil {
		a.timer.Stop()
	}
	if !t.IsZero() {
		a.timer = time.AfterFunc(time.Until(t), func() {
			select {
			case a.c <- struct{}{}:
			default:
			}
		})
	}
	return nil
}

// Under load a lease ends every few microseconds. The reaper armed its
// wall-clock alarm for the next lease's end, microseconds away: the alarm
// fired at once and woke the reaper for every end, past reapGap, with a
// timerfd_settime each time (round 6e: 3,800 per 40,000 leases). An end
// within alarmHorizon is now the timer's alone; the leases still end at
// their TTL, within reapGap, and the alarm is never set for after the next
// deadline.
func TestTheWallAlarmWakesTheReaperNoMoreThanItsTimerUnderLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		alarm := &firingAlarm{fakeAlarm: fakeAlarm{c: make(chan struct{}, 1)}}
		procs := &fakeProcs{start: map[int]uint64{}, ppid: map[int]int{}}
		b := newLaptopBroker(t, Options{Procs: procs, Audit: &audit.Memory{}, WallAlarm: alarm})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go b.Run(ctx)
		var first string
		for i := range 30000 { // ten leases a millisecond for 3 s, each for 1 s
			g, err := b.Lease(ctx, LeaseRequest{Purpose: PurposeToken, TTL: time.Second, Caller: Caller{UID: 1000}})
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = g.Lease.ID
			}
			if i%10 == 9 {
				time.Sleep(time.Millisecond)
			}
			if i%1000 == 999 {
				synctest.Wait()
				b.mu.Lock()
				next, ok := b.due.next(b.leases)
				b.mu.Unlock()
				if at := alarm.setFor(); ok && at.After(next.Round(0)) {
					t.Fatalf("the alarm is set for %v, after the next deadline %v", at, next)
				}
			}
		}
		synctest.Wait()
		if _, live := b.LeaseValid(first); live {
			t.Fatal("the first lease outlived its TTL")
		}
		// The leases of the last second live; those before have ended,
		// each within reapGap of its end.
		if n := b.LeaseCount(); n > 10000+10*int(reapGap/time.Millisecond)+10 {
			t.Errorf("%d leases live, want those of the last second only", n)
		}
		alarm.mu.Lock()
		sets := alarm.sets
		alarm.mu.Unlock()
		if sets > 3 {
			t.Errorf("the alarm was set %d times in 3 s of leases that each end within a second", sets)
		}
	})
}
