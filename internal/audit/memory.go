package audit

import (
	"errors"
	"slices"
	"sync"
	"time"
)

// Memory is a Sink that keeps events in memory, for tests of the broker.
// It applies the same checks as Log, so a test that leaks a token into an
// event fails there too.
type Memory struct {
	mu       sync.Mutex
	events   []Event
	redacted int
}

var _ Sink = (*Memory)(nil)

// Write records ev, stamping Time when zero, redacted or refused as Log
// would.
func (m *Memory) Write(ev Event) error {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	_, redacted, err := encode(&ev, time.Now)
	if redacted {
		m.mu.Lock()
		m.redacted++
		m.mu.Unlock()
	}
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, ev)
	return nil
}

// WriteAll records evs as Write would, one by one.
func (m *Memory) WriteAll(evs []Event) error {
	var errs []error
	for _, ev := range evs {
		if err := m.Write(ev); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Events returns a copy of the recorded events, in order.
func (m *Memory) Events() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.events)
}

// Redacted reports how many events held text shaped like a token.
func (m *Memory) Redacted() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.redacted
}
