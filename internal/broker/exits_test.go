package broker

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hfbroker/hfbroker/internal/audit"
	"github.com/hfbroker/hfbroker/internal/keystore"
	"github.com/hfbroker/hfbroker/internal/secret"
)

// fakeExits is an ExitWatcher the test controls: exit reports that watched
// processes exited, as a pidfd would.
type fakeExits struct {
	mu       sync.Mutex
	watched  map[int]bool
	exited   chan []int
	stop     chan struct{}
	stopOnce sync.Once
	closed   bool
}

func newFakeExits() *fakeExits {
	return &fakeExits{watched: map[int]bool{}, exited: make(chan []int), stop: make(chan struct{})}
}

func (f *fakeExits) Add(pid int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.watched[pid] = true
	return true
}

func (f *fakeExits) Remove(pid int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.watched, pid)
}

func (f *fakeExits) Watching(pid int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.watched[pid]
}

func (f *fakeExits) Wait() []int {
	select {
	case pids := <-f.exited:
		f.mu.Lock()
		for _, pid := range pids {
			delete(f.watched, pid)
		}
		f.mu.Unlock()
		return pids
	case <-f.stop:
		return nil
	}
}

func (f *fakeExits) Interrupt() { f.stopOnce.Do(func() { close(f.stop) }) }

func (f *fakeExits) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
}

// A lease on a process the ExitWatcher watches ends when the watcher says
// the process exited, at once, and not before: the reaper does not poll a
// watched process (the process table can mislead in the middle of an
// execve). When Run returns, the watcher is interrupted and closed.
func TestAWatchedProcessEndsItsLeaseWhenTheWatcherSaysItExited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		procs := &fakeProcs{start: map[int]uint64{}, ppid: map[int]int{}}
		exits := newFakeExits()
		rec := &audit.Memory{}
		b := newLaptopBroker(t, Options{Procs: procs, Exits: exits, Audit: rec})
		ctx, cancel := context.WithCancel(t.Context())
		ran := make(chan struct{})
		go func() { defer close(ran); b.Run(ctx) }()

		procs.set(100, 1)
		g, err := b.Lease(ctx, LeaseRequest{Purpose: PurposeExec, TTL: 10 * time.Hour, Caller: Caller{UID: 1000, PID: 100}})
		if err != nil {
			t.Fatal(err)
		}
		if !exits.Watching(100) {
			t.Fatal("the leased process is not watched")
		}
		// The table says it has gone, the watcher has not said so: the
		// lease lives (a poll would have ended it within ReapInterval).
		procs.exit(100)
		time.Sleep(time.Hour)
		synctest.Wait()
		if _, live := b.LeaseValid(g.Lease.ID); !live {
			t.Fatal("a watched process was polled: its lease ended before the watcher said it exited")
		}
		exits.exited <- []int{100}
		synctest.Wait()
		if _, live := b.LeaseValid(g.Lease.ID); live {
			t.Fatal("the lease outlived the exit the watcher reported")
		}
		if cause, _ := b.EndedCause(g.Lease.ID); cause != "exit" {
			t.Fatalf("cause = %q, want exit", cause)
		}
		cancel()
		<-ran
		if !exits.closed {
			t.Fatal("Run returned without closing the watcher")
		}
	})
}

// git's credential helper exits as soon as it has answered, and its lease
// lives out its TTL: the daemon reads the helper's process once, for the
// audit line, and does not watch it (a pidfd that would only wake it for
// that exit in the middle of git's operation). An exec lease is watched.
func TestAGitLeaseDoesNotWatchTheHelper(t *testing.T) {
	procs := &fakeProcs{start: map[int]uint64{}, ppid: map[int]int{}}
	exits := newFakeExits()
	rec := &audit.Memory{}
	b := newLaptopBroker(t, Options{Procs: procs, Exits: exits, Audit: rec})
	procs.set(200, 1)
	procs.set(300, 1)
	if _, err := b.Lease(t.Context(), LeaseRequest{Purpose: PurposeGit, Caller: Caller{UID: 1000, PID: 200}}); err != nil {
		t.Fatal(err)
	}
	if exits.Watching(200) {
		t.Error("git's credential helper is watched")
	}
	if _, err := b.Lease(t.Context(), LeaseRequest{Purpose: PurposeExec, TTL: time.Hour, Caller: Caller{UID: 1000, PID: 300}}); err != nil {
		t.Fatal(err)
	}
	if !exits.Watching(300) {
		t.Error("an exec lease's process is not watched")
	}
	var granted []audit.Event
	for _, ev := range rec.Events() {
		if ev.Event == "lease.granted" {
			granted = append(granted, ev)
		}
	}
	if len(granted) != 2 || granted[0].PID != 200 || granted[0].Exe != procs.Exe(200) || granted[0].Cwd != procs.Cwd(200) {
		t.Errorf("the git lease's audit line does not name its caller as the process table does: %+v", granted)
	}
}

// When the last live lease ends because its process exited, the reaper
// stops the timer it had set for that lease's deadline (or maxReapSleep):
// an idle daemon is not woken once more for a lease that is gone. Before,
// every `hfbroker token` cost the idle daemon one wake 30 s later.
func TestTheReaperDisarmsWhenTheLastLeaseEndsByExit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		procs := &fakeProcs{start: map[int]uint64{}, ppid: map[int]int{}}
		exits := newFakeExits()
		b := newLaptopBroker(t, Options{Procs: procs, Exits: exits, Audit: &audit.Memory{}})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go b.Run(ctx)
		procs.set(100, 1)
		if _, err := b.Lease(ctx, LeaseRequest{Purpose: PurposeToken, TTL: 10 * time.Hour, Caller: Caller{UID: 1000, PID: 100}}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		armed := func() bool { b.mu.Lock(); defer b.mu.Unlock(); return !b.reapAt.IsZero() }
		if !armed() {
			t.Fatal("the reaper is not armed for a live lease: the test proves nothing")
		}
		exits.exited <- []int{100}
		synctest.Wait()
		if armed() {
			t.Error("the last lease ended by exit, and the reaper still has a timer set")
		}
	})
}

// newLaptopBroker is a broker on memory stores with o's other options and a
// day's MaxTTL, holding one token as profile "laptop".
func newLaptopBroker(tb testing.TB, o Options) *Broker {
	tb.Helper()
	o.Store, o.Profiles, o.MaxTTL = keystore.NewMemory(), &MemoryProfiles{}, 24*time.Hour
	b, err := New(o)
	if err != nil {
		tb.Fatal(err)
	}
	tok := secret.Token("hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh")
	if _, _, err := b.AddToken(context.Background(), AddRequest{Name: "laptop", Token: tok, Endpoint: "https://huggingface.co", NoVerify: true}); err != nil {
		tb.Fatal(err)
	}
	return b
}
