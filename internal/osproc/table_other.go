//go:build !linux

package osproc

import (
	"errors"
	"os"
	"syscall"
)

// Without /proc, liveness is a signal-0 probe: it cannot see pid reuse, so a
// recycled pid keeps a lease alive until its TTL.
func startTime(pid int) (uint64, error) {
	p, err := os.FindProcess(pid)
	if err != nil {
		return 0, err
	}
	if err := p.Signal(syscall.Signal(0)); err != nil && !errors.Is(err, os.ErrPermission) {
		return 0, err
	}
	return 0, nil
}

func parent(pid int) (int, error) {
	if pid == os.Getpid() {
		return os.Getppid(), nil
	}
	return 0, errors.New("parent pid unknown on this platform")
}

func exe(int) string { return "" }
func cwd(int) string { return "" }

// canList: without /proc no process carrying a lease's id can be found,
// so a lease lives with its first process only.
const canList = false

func carriers(int, string, []string, uint64) (map[string][]int, bool) { return nil, false }
