package wallclock

import (
	"testing"
	"time"
)

// The alarm fires at its wall-clock time, fires at once for a time already
// past, and stays quiet once disarmed.
func TestAlarmFiresAtItsTimeAndNotWhenDisarmed(t *testing.T) {
	a, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	start := time.Now()
	if err := a.Set(start.Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.C():
	case <-time.After(10 * time.Second):
		t.Fatal("the alarm did not fire")
	}
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Errorf("the alarm fired after %v, before its time", took)
	}
	if err := a.Set(time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.C():
	case <-time.After(10 * time.Second):
		t.Fatal("an alarm set in the past did not fire")
	}
	// Disarmed, an alarm due in 50 ms says nothing; a second alarm,
	// armed for the same moment, shows that moment has passed.
	if err := a.Set(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := a.Set(time.Time{}); err != nil {
		t.Fatal(err)
	}
	b, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Set(time.Now().Add(100 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.C():
		t.Fatal("a disarmed alarm fired")
	case <-b.C():
	}
}
