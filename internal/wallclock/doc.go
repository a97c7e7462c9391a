// Package wallclock is an alarm set to a wall-clock time that the kernel
// fires through a suspend and when the clock is set (a timerfd on
// CLOCK_REALTIME). Go's timers run on the monotonic clock, which stops
// while the machine sleeps: the broker's reaper uses this alarm so that
// a lease whose end passed during a suspend ends at the resume, without
// waking an idle daemon every few seconds to look at the clock.
package wallclock
