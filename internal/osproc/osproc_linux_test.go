package osproc_test

import (
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"

	"github.com/hfbroker/hfbroker/internal/broker"
	"github.com/hfbroker/hfbroker/internal/osproc"
)

var (
	_ broker.Procs       = osproc.Table{}
	_ broker.ExitWatcher = (*osproc.Watcher)(nil)
)

// startSleeper starts a child that sleeps, with env added to ours.
func startSleeper(t *testing.T, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

func TestTableReadsALiveProcessAndRefusesAnExitedOne(t *testing.T) {
	var tab osproc.Table
	cmd := startSleeper(t)
	pid := cmd.Process.Pid
	start, err := tab.StartTime(pid)
	if err != nil || start == 0 {
		t.Fatalf("StartTime(child) = %d, %v", start, err)
	}
	if again, _ := tab.StartTime(pid); again != start {
		t.Fatalf("the start time changed: %d then %d", start, again)
	}
	if p, err := tab.Parent(pid); err != nil || p != os.Getpid() {
		t.Fatalf("Parent(child) = %d, %v; want %d", p, err, os.Getpid())
	}
	if tab.Exe(pid) == "" {
		t.Fatal("Exe(child) is empty")
	}
	if wd, _ := os.Getwd(); tab.Cwd(pid) != wd {
		t.Fatalf("Cwd(child) = %q, want %q", tab.Cwd(pid), wd)
	}
	cmd.Process.Kill()
	cmd.Wait() // reaped: the pid names no process now
	if _, err := tab.StartTime(pid); err == nil {
		t.Fatal("StartTime of an exited process succeeded")
	}
}

// A lease's id travels in the environment: Carriers finds the processes
// that carry it, and only those.
func TestCarriersFindTheProcessesThatCarryALeaseID(t *testing.T) {
	var tab osproc.Table
	if !tab.CanFollow() {
		t.Fatal("Linux has /proc: CanFollow must be true")
	}
	a := startSleeper(t, broker.LeaseEnv+"=l-aaaa")
	b := startSleeper(t, broker.LeaseEnv+"=l-bbbb")
	startSleeper(t, broker.LeaseEnv+"=l-other")
	found, _ := tab.Carriers(os.Getuid(), broker.LeaseEnv, []string{"l-aaaa", "l-bbbb", "l-none"}, 0)
	if got := found["l-aaaa"]; !slices.Equal(got, []int{a.Process.Pid}) {
		t.Errorf("carriers of l-aaaa = %v, want [%d]", got, a.Process.Pid)
	}
	if got := found["l-bbbb"]; !slices.Equal(got, []int{b.Process.Pid}) {
		t.Errorf("carriers of l-bbbb = %v, want [%d]", got, b.Process.Pid)
	}
	if got := found["l-none"]; len(got) != 0 {
		t.Errorf("carriers of an id nobody carries = %v", got)
	}
}

// The watcher says when a watched process exits, through its pidfd; a
// process that has exited cannot be watched; Interrupt ends every Wait.
func TestWatcherReportsAnExitAndStopsOnInterrupt(t *testing.T) {
	w, err := osproc.NewWatcher()
	if err != nil {
		t.Fatalf("this kernel has no pidfd_open: %v", err)
	}
	defer w.Close()
	cmd := startSleeper(t)
	pid := cmd.Process.Pid
	if !w.Add(pid) || !w.Add(pid) || !w.Watching(pid) {
		t.Fatal("a live child cannot be watched")
	}
	cmd.Process.Kill()
	if got := w.Wait(); !slices.Equal(got, []int{pid}) {
		t.Fatalf("Wait = %v, want [%d]", got, pid)
	}
	if w.Watching(pid) {
		t.Fatal("an exited process is still watched")
	}
	cmd.Wait()
	if w.Add(pid) {
		t.Fatal("a reaped pid was watched")
	}
	w.Interrupt()
	for range 2 {
		if got := w.Wait(); got != nil {
			t.Fatalf("Wait after Interrupt = %v, want nil", got)
		}
	}
}

// A pidfd names one process: a pid that was reaped has none to open.
func TestOpenPidfdRefusesAReapedProcess(t *testing.T) {
	cmd := startSleeper(t)
	pid := cmd.Process.Pid
	fd, err := osproc.OpenPidfd(pid)
	if err != nil {
		t.Fatalf("OpenPidfd(%d) of a live child: %v", pid, err)
	}
	syscall.Close(fd)
	cmd.Process.Kill()
	cmd.Wait()
	if fd, err := osproc.OpenPidfd(pid); err == nil {
		syscall.Close(fd)
		t.Fatalf("OpenPidfd(%d) of a reaped process succeeded", pid)
	}
}

// Remove stops a watch (its process's last lease ended): the process's
// exit is not reported, another's still is.
func TestARemovedProcessIsNotReported(t *testing.T) {
	w, err := osproc.NewWatcher()
	if err != nil {
		t.Fatalf("this kernel has no pidfd_open: %v", err)
	}
	defer w.Close()
	a, b := startSleeper(t), startSleeper(t)
	if !w.Add(a.Process.Pid) || !w.Add(b.Process.Pid) {
		t.Fatal("live children cannot be watched")
	}
	w.Remove(a.Process.Pid)
	w.Remove(a.Process.Pid) // twice: no harm
	if w.Watching(a.Process.Pid) {
		t.Fatal("a removed process is still watched")
	}
	a.Process.Kill()
	a.Wait()
	b.Process.Kill()
	if got := w.Wait(); !slices.Equal(got, []int{b.Process.Pid}) {
		t.Fatalf("Wait = %v, want only [%d]", got, b.Process.Pid)
	}
}
