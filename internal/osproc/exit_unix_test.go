//go:build unix

package osproc

import (
	"os/exec"
	"runtime"
	"testing"
)

// sleeper starts a child that sleeps until the test kills it.
func sleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// The two ways Exit waits: a pidfd (Linux 5.3+), and probing with signal 0
// (other systems, older kernels).
var exitWayNames = []string{"pidfd or the platform's way", "polling"}

func exitWays(t *testing.T, pid int) map[string]*Exit {
	t.Helper()
	e, err := WatchExit(pid)
	if err != nil {
		t.Fatalf("WatchExit(%d): %v", pid, err)
	}
	if runtime.GOOS == "linux" && e.f == nil {
		t.Fatal("WatchExit on Linux opened no pidfd")
	}
	return map[string]*Exit{exitWayNames[0]: e, exitWayNames[1]: {pid: pid}}
}

func TestExitWaitReturnsOnceTheProcessHasExited(t *testing.T) {
	for _, name := range exitWayNames {
		t.Run(name, func(t *testing.T) {
			cmd := sleeper(t)
			e := exitWays(t, cmd.Process.Pid)[name]
			cmd.Process.Kill()
			cmd.Wait() // reaped: gone for signal 0 too
			if !e.Wait(make(chan struct{})) {
				t.Fatal("Wait = false for a process that exited")
			}
		})
	}
}

func TestExitWaitReturnsFalseWhenStoppedFirst(t *testing.T) {
	for _, name := range exitWayNames {
		t.Run(name, func(t *testing.T) {
			cmd := sleeper(t)
			e := exitWays(t, cmd.Process.Pid)[name]
			stop := make(chan struct{})
			close(stop)
			if e.Wait(stop) {
				t.Fatal("Wait = true for a process that is still running")
			}
		})
	}
}
