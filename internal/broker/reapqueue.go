package broker

import "time"

// reapQueue is what the reaper looks at instead of every live lease (issue
// 16: with tens of thousands of short leases live, each of the reaper's wakes
// walked all of them, twice, under the broker's mutex, and took half of the
// daemon's CPU under load): the leases by deadline, and the leases whose
// processes no pidfd watches, which must be polled.
//
// A lease is pushed whenever wakeReaperLocked sees it (granted, renewed,
// restored, given heirs), so a renewed lease has an older entry too: an
// entry is stale once its lease is no longer live or no longer has the
// deadline it was pushed with, and is dropped when it comes to the top or
// when stale entries outnumber live leases. Guarded by Broker.mu.
type reapQueue struct {
	// mono orders by the deadline's monotonic reading (when it has one),
	// wall by its wall clock reading: expired ends a lease when either has
	// passed, and after a suspend the two orders differ.
	mono, wall dueHeap
	polled     map[*liveLease]struct{}
}

// dueEntry is a lease as it was pushed: with the deadline it had then.
type dueEntry struct {
	l        *liveLease
	deadline time.Time
}

// push queues l, a live lease of leases, at its current deadline; poll adds
// it to the leases Reap polls.
func (q *reapQueue) push(l *liveLease, poll bool, leases map[string]*liveLease) {
	e := dueEntry{l, l.deadline}
	q.mono.push(e, byMono)
	q.wall.push(e, byWall)
	if poll {
		if q.polled == nil {
			q.polled = map[*liveLease]struct{}{}
		}
		q.polled[l] = struct{}{}
	}
	if len(q.mono.es) > 2*len(leases)+1024 {
		q.compact(leases)
	}
}

// compact drops every stale entry, in time linear in the entries; push calls
// it when stale entries outnumber live leases, so its cost is spread over the
// pushes that made them.
func (q *reapQueue) compact(leases map[string]*liveLease) {
	q.mono.filter(leases, byMono)
	q.wall.filter(leases, byWall)
}

// reset forgets every entry and gives their memory back (no lease is live).
func (q *reapQueue) reset() { *q = reapQueue{} }

// current reports whether e is still the entry of a live lease in leases.
func (e dueEntry) current(leases map[string]*liveLease) bool {
	cur, ok := leases[e.l.ID]
	return ok && cur == e.l && e.l.deadline.Equal(e.deadline)
}

// takeExpired takes the leases expired at now out of leases: those whose
// deadline has passed by either clock, as Broker.expired decides.
func (q *reapQueue) takeExpired(leases map[string]*liveLease, now time.Time) []*liveLease {
	var out []*liveLease
	take := func(h *dueHeap, less func(a, b dueEntry) bool, passed func(time.Time) bool) {
		for len(h.es) > 0 && passed(h.es[0].deadline) {
			e := h.pop(less)
			if e.current(leases) {
				delete(leases, e.l.ID)
				out = append(out, e.l)
			}
		}
	}
	take(&q.mono, byMono, func(d time.Time) bool { return !now.Before(d) })
	wallNow := now.Round(0)
	take(&q.wall, byWall, func(d time.Time) bool { return !wallNow.Before(d.Round(0)) })
	return out
}

// next is the earliest deadline of a live lease, dropping stale entries on
// the way; false when there is none.
func (q *reapQueue) next(leases map[string]*liveLease) (time.Time, bool) {
	for len(q.mono.es) > 0 {
		if e := q.mono.es[0]; e.current(leases) {
			return e.deadline, true
		}
		q.mono.pop(byMono)
	}
	return time.Time{}, false
}

func byMono(a, b dueEntry) bool { return a.deadline.Before(b.deadline) }
func byWall(a, b dueEntry) bool { return a.deadline.Round(0).Before(b.deadline.Round(0)) }

// dueHeap is a binary min-heap of entries (container/heap would box each
// entry in an interface: an allocation per push).
type dueHeap struct{ es []dueEntry }

// filter keeps the current entries and restores the heap order.
func (h *dueHeap) filter(leases map[string]*liveLease, less func(a, b dueEntry) bool) {
	kept := h.es[:0]
	for _, e := range h.es {
		if e.current(leases) {
			kept = append(kept, e)
		}
	}
	clear(h.es[len(kept):]) // let the ended leases go
	h.es = kept
	for i := len(kept)/2 - 1; i >= 0; i-- {
		h.down(i, less)
	}
}

func (h *dueHeap) push(e dueEntry, less func(a, b dueEntry) bool) {
	h.es = append(h.es, e)
	h.up(len(h.es)-1, less)
}

func (h *dueHeap) pop(less func(a, b dueEntry) bool) dueEntry {
	top := h.es[0]
	last := len(h.es) - 1
	h.es[0] = h.es[last]
	h.es[last] = dueEntry{} // let the lease go
	h.es = h.es[:last]
	if last > 0 {
		h.down(0, less)
	}
	return top
}

func (h *dueHeap) up(i int, less func(a, b dueEntry) bool) {
	for i > 0 {
		p := (i - 1) / 2
		if !less(h.es[i], h.es[p]) {
			return
		}
		h.es[i], h.es[p] = h.es[p], h.es[i]
		i = p
	}
}

func (h *dueHeap) down(i int, less func(a, b dueEntry) bool) {
	n := len(h.es)
	for {
		m, l, r := i, 2*i+1, 2*i+2
		if l < n && less(h.es[l], h.es[m]) {
			m = l
		}
		if r < n && less(h.es[r], h.es[m]) {
			m = r
		}
		if m == i {
			return
		}
		h.es[i], h.es[m] = h.es[m], h.es[i]
		i = m
	}
}
