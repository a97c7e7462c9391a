package broker

import (
	"slices"
	"time"
)

// reapQueue is what the reaper looks at instead of every live lease (issue
// 16: with tens of thousands of short leases live, each of the reaper's wakes
// walked all of them, twice, under the broker's mutex, and took half of the
// daemon's CPU under load): the leases by deadline, and the leases whose
// processes no pidfd watches, which must be polled; and the leases that
// live with processes, which processesExited looks at instead of every
// live lease (git's leases, which live out their TTLs with no process,
// can be most of them).
//
// A lease is pushed whenever wakeReaperLocked sees it (granted, renewed,
// restored, given heirs), so a renewed lease has an older entry too: an
// entry is stale once its lease is no longer live or no longer has the
// deadline it was pushed with, and is dropped when it comes to the top or
// when stale entries outnumber live leases. Guarded by Broker.mu.
//
// An entry holds its deadline as an offset from the queue's epoch (16 bytes
// an entry, not 32: every live lease has one in each heap, and the daemon's
// peak memory follows what a live lease keeps, issue 16).
type reapQueue struct {
	// mono orders by the deadline's monotonic reading (when it has one),
	// wall by its wall clock reading: expired ends a lease when either has
	// passed, and after a suspend the two orders differ.
	mono, wall dueHeap
	polled     map[*liveLease]struct{}
	// withProcs holds every live lease that has members, once (a lease's
	// inProcs says it is here), and stale entries (ended, or left with
	// none) until processesExited or compact drops them. A slice, not a
	// set: 8 bytes a lease, where every watched lease has an entry.
	withProcs []*liveLease
	// epoch is the time the offsets count from: the first push's now,
	// with its monotonic reading, until reset.
	epoch time.Time
}

// dueEntry is a lease as it was pushed: with the deadline it had then, as
// an offset from the queue's epoch (monoKey or wallKey).
type dueEntry struct {
	l   *liveLease
	key time.Duration
}

// monoKey is d in the mono heap: from the epoch by the monotonic clock when
// both have a reading of it (as time.Time's Sub and Before decide).
func (q *reapQueue) monoKey(d time.Time) time.Duration { return d.Sub(q.epoch) }

// wallKey is d in the wall heap: from the epoch by the wall clock.
func (q *reapQueue) wallKey(d time.Time) time.Duration { return d.Round(0).Sub(q.epoch.Round(0)) }

// push queues l, a live lease of leases, at its current deadline; poll adds
// it to the leases Reap polls, members to those processesExited looks at.
// now is the broker's clock. Whatever gives a lease processes pushes it
// (wakeReaperLocked), with the mutex held.
func (q *reapQueue) push(l *liveLease, poll bool, leases map[string]*liveLease, now time.Time) {
	if q.epoch.IsZero() {
		q.epoch = now
	}
	q.mono.push(dueEntry{l, q.monoKey(l.deadline)})
	q.wall.push(dueEntry{l, q.wallKey(l.deadline)})
	if poll {
		if q.polled == nil {
			q.polled = map[*liveLease]struct{}{}
		}
		q.polled[l] = struct{}{}
	}
	if len(l.members) > 0 && !l.inProcs {
		l.inProcs = true
		q.withProcs = append(q.withProcs, l)
		// The reaper takes expired leases off the heaps, not off this
		// list: it is filtered when stale entries outnumber live leases.
		if len(q.withProcs) > 2*len(leases)+1024 {
			q.filterProcs(leases, func(*liveLease) bool { return true })
		}
	}
	if len(q.mono.es) > 2*len(leases)+1024 {
		q.compact(leases)
	}
}

// compact drops every stale entry, in time linear in the entries; push calls
// it when stale entries outnumber live leases, so its cost is spread over the
// pushes that made them.
func (q *reapQueue) compact(leases map[string]*liveLease) {
	q.mono.filter(func(e dueEntry) bool { return q.current(e, leases, q.monoKey) })
	q.wall.filter(func(e dueEntry) bool { return q.current(e, leases, q.wallKey) })
	q.filterProcs(leases, func(*liveLease) bool { return true })
}

// filterProcs keeps in withProcs the live leases with members for which
// keep, called with each, reports true; it gives back the memory of a
// slice left mostly empty.
func (q *reapQueue) filterProcs(leases map[string]*liveLease, keep func(*liveLease) bool) {
	kept := q.withProcs[:0]
	for _, l := range q.withProcs {
		if hasProcs(l, leases) && keep(l) {
			kept = append(kept, l)
		} else {
			l.inProcs = false
		}
	}
	clear(q.withProcs[len(kept):]) // the ended leases are the GC's
	if cap(kept) > 4*len(kept)+1024 {
		kept = slices.Clone(kept)
	}
	q.withProcs = kept
}

// hasProcs reports whether l is a live lease of leases with members.
func hasProcs(l *liveLease, leases map[string]*liveLease) bool {
	cur, ok := leases[l.ID]
	return ok && cur == l && len(l.members) > 0
}

// reset forgets every entry and gives their memory back (no lease is live).
func (q *reapQueue) reset() { *q = reapQueue{} }

// current reports whether e, an entry of the heap whose keys key makes, is
// still the entry of a live lease in leases.
func (q *reapQueue) current(e dueEntry, leases map[string]*liveLease, key func(time.Time) time.Duration) bool {
	cur, ok := leases[e.l.ID]
	return ok && cur == e.l && key(e.l.deadline) == e.key
}

// takeExpired takes the leases expired at now out of leases: those whose
// deadline has passed by either clock, as Broker.expired decides.
func (q *reapQueue) takeExpired(leases map[string]*liveLease, now time.Time) []*liveLease {
	var out []*liveLease
	take := func(h *dueHeap, key func(time.Time) time.Duration) {
		var early []dueEntry
		for nowKey := key(now); len(h.es) > 0 && h.es[0].key <= nowKey; {
			e := h.pop()
			if !q.current(e, leases, key) {
				continue
			}
			// The offsets order as the deadlines do; whether a lease has
			// ended is still its own deadline's to say, so that clocks
			// read in different ways (a test's) never end one early.
			if now.Before(e.l.deadline) && now.Round(0).Before(e.l.deadline.Round(0)) {
				early = append(early, e)
				continue
			}
			delete(leases, e.l.ID)
			out = append(out, e.l)
		}
		for _, e := range early {
			h.push(e)
		}
	}
	take(&q.mono, q.monoKey)
	take(&q.wall, q.wallKey)
	return out
}

// next is the earliest deadline of a live lease, dropping stale entries on
// the way; false when there is none.
func (q *reapQueue) next(leases map[string]*liveLease) (time.Time, bool) {
	for len(q.mono.es) > 0 {
		if e := q.mono.es[0]; q.current(e, leases, q.monoKey) {
			return e.l.deadline, true
		}
		q.mono.pop()
	}
	return time.Time{}, false
}

// dueHeap is a binary min-heap of entries by key (container/heap would box
// each entry in an interface: an allocation per push).
type dueHeap struct{ es []dueEntry }

// filter keeps the entries keep says are current and restores the heap
// order.
func (h *dueHeap) filter(keep func(dueEntry) bool) {
	kept := h.es[:0]
	for _, e := range h.es {
		if keep(e) {
			kept = append(kept, e)
		}
	}
	clear(h.es[len(kept):]) // let the ended leases go
	h.es = kept
	for i := len(kept)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *dueHeap) push(e dueEntry) {
	h.es = append(h.es, e)
	h.up(len(h.es) - 1)
}

func (h *dueHeap) pop() dueEntry {
	top := h.es[0]
	last := len(h.es) - 1
	h.es[0] = h.es[last]
	h.es[last] = dueEntry{} // let the lease go
	h.es = h.es[:last]
	if last > 0 {
		h.down(0)
	}
	return top
}

func (h *dueHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h.es[i].key >= h.es[p].key {
			return
		}
		h.es[i], h.es[p] = h.es[p], h.es[i]
		i = p
	}
}

func (h *dueHeap) down(i int) {
	n := len(h.es)
	for {
		m, l, r := i, 2*i+1, 2*i+2
		if l < n && h.es[l].key < h.es[m].key {
			m = l
		}
		if r < n && h.es[r].key < h.es[m].key {
			m = r
		}
		if m == i {
			return
		}
		h.es[i], h.es[m] = h.es[m], h.es[i]
		i = m
	}
}
