package broker

import "fmt"

// procInfo is what the broker knows of a leased process.
type procInfo struct {
	start    uint64
	exe, cwd string
}

// procWatch is a process the ExitWatcher watches: one watch (one pidfd in
// the epoll set) per process, shared by every live lease it is a member of,
// and removed when the last of them ends, or when the process exits.
type procWatch struct {
	procInfo
	// refs counts the live leases the process is a member of, and the
	// grants (and heirs, and restored leases) on their way to being one.
	refs int
}

// proc returns a process's start time, executable and directory. Reading
// /proc costs more than the rest of a lease, so a process watched through a
// pidfd (alive, and the same process, until its pidfd says otherwise) is
// read once, while it is watched. watch asks for the pidfd and counts one
// lease membership on it (held: the caller's procRef gives it back with
// releaseWatches when the lease ends or is not granted).
func (b *Broker) proc(pid int, watch bool) (info procInfo, held bool, err error) {
	if b.exits != nil {
		b.watchMu.Lock()
		if w, ok := b.watches[pid]; ok {
			if watch {
				w.refs++
			}
			info := w.procInfo
			b.watchMu.Unlock()
			return info, watch, nil
		}
		b.watchMu.Unlock()
	}
	start, err := b.opts.Procs.StartTime(pid)
	if err != nil {
		return procInfo{}, false, err
	}
	info = procInfo{start: start, exe: b.opts.Procs.Exe(pid), cwd: b.opts.Procs.Cwd(pid)}
	if watch && b.exits != nil {
		b.watchMu.Lock()
		if w, ok := b.watches[pid]; ok {
			// Watched meanwhile, by another grant.
			if w.start == start {
				w.refs++
				held = true
			}
		} else if b.exits.Add(pid) {
			b.watches[pid] = &procWatch{procInfo: info, refs: 1}
			held = true
		}
		b.watchMu.Unlock()
	}
	return info, held, nil
}

// callerProc is proc for the process at the other end of the caller's
// connection, known by its connection (cp) rather than by its pid alone:
// cp read it once, and a lease never goes to a process that merely has its
// pid now. Its exe and cwd are cp's (what the connection read at its first
// call; see osproc.Peer.Info for why not at every call).
//
// A lease that is not watched (git's: its helper exits at once), or that
// the reaper polls (no ExitWatcher), asks whether the process runs now, as
// reading its start time did: for a one-shot helper that is the
// connection's first read, nothing more.
func (b *Broker) callerProc(pid int, cp CallerProcess, watch bool) (info procInfo, held bool, err error) {
	exited := func() error { return fmt.Errorf("process %d has exited", pid) }
	if !watch || b.exits == nil {
		if !cp.Alive() {
			return procInfo{}, false, exited()
		}
		start, exe, cwd, err := cp.Info()
		return procInfo{start: start, exe: exe, cwd: cwd}, false, err
	}
	start, exe, cwd, err := cp.Info()
	if err != nil {
		return procInfo{}, false, err
	}
	info = procInfo{start: start, exe: exe, cwd: cwd}
	b.watchMu.Lock()
	defer b.watchMu.Unlock()
	if w, ok := b.watches[pid]; ok {
		if w.start == start {
			// The pidfd the watcher holds is this process's, and it has
			// not said it exited: no system call at all.
			w.refs++
			return info, true, nil
		}
		// Watched as another process: the pid was reused after this
		// connection's process exited (or is being reused before the
		// watcher's report of the exit was read). This process is not
		// that watch's; the reaper polls it, if it still runs.
		if !cp.Alive() {
			return procInfo{}, false, exited()
		}
		return info, false, nil
	}
	// Its first lease, or its first since its last one ended: the watch
	// opened here is this process's only if it still runs once the watch
	// is open.
	added := b.exits.Add(pid)
	if !cp.Alive() {
		if added {
			b.exits.Remove(pid)
		}
		return procInfo{}, false, exited()
	}
	if added {
		b.watches[pid] = &procWatch{procInfo: info, refs: 1}
	}
	return info, added, nil
}

// releaseWatches gives back the lease membership each of ps holds (a lease
// that ended, a grant that failed, an heir no lease took): a process whose
// last one this was is watched no longer. A member that holds none (its
// watch could not be opened, or its pid is watched as another process)
// gives back nothing, and one whose process has exited finds its watch gone.
func (b *Broker) releaseWatches(ps []procRef) {
	if b.exits == nil || len(ps) == 0 {
		return
	}
	b.watchMu.Lock()
	defer b.watchMu.Unlock()
	for _, p := range ps {
		w, ok := b.watches[p.pid]
		if !p.held || !ok || w.start != p.start {
			continue
		}
		if w.refs--; w.refs <= 0 {
			delete(b.watches, p.pid)
			b.exits.Remove(p.pid)
		}
	}
}

// forgetExited drops the watches of processes the ExitWatcher reported
// exited (it has closed their pidfds already).
func (b *Broker) forgetExited(pids []int) {
	b.watchMu.Lock()
	defer b.watchMu.Unlock()
	for _, pid := range pids {
		delete(b.watches, pid)
	}
}

// watchedInfo is what the broker read of a watched process; false when it
// does not watch pid.
func (b *Broker) watchedInfo(pid int) (procInfo, bool) {
	b.watchMu.Lock()
	defer b.watchMu.Unlock()
	w, ok := b.watches[pid]
	if !ok {
		return procInfo{}, false
	}
	return w.procInfo, true
}
