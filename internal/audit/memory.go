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
	mu      sync.Mutex
	events  []Event
	refused int
}

var _ Sink = (*Memory)(nil)

// Write records ev, stamping Time when zero, or refuses it as Log would.
func (m *Memory) Write(ev Event) error {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if _, err := encode(ev, time.Now); err != nil {
		if errors.Is(err, ErrTokenShaped) {
			m.mu.Lock()
			m.refused++
			m.mu.Unlock()
		}
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

// Refused reports how many events were refused as token-shaped.
func (m *Memory) Refused() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.refused
}
