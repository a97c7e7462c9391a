package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"syscall"
	"time"
)

// ProcResult is a labelled sample of the daemon.
type ProcResult struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // "proc"
	ProcSample
}

// procMain samples a process's memory and threads. With -quit-log it then
// counts its goroutines the only way a stock hfbrokerd allows: it sends
// SIGQUIT to a daemon started with GOTRACEBACK=all and stderr in that log,
// waits for it to exit, and counts the goroutines in the dump. The daemon
// is gone afterwards.
func procMain(args []string) error {
	fs := flag.NewFlagSet("proc", flag.ExitOnError)
	name := fs.String("name", "", "label for the result")
	pid := fs.Int("pid", 0, "process to sample")
	quitLog := fs.String("quit-log", "", "the process's stderr file: SIGQUIT it and count goroutines in the dump")
	fs.Parse(args)
	if *pid <= 0 {
		return errors.New("-pid is required")
	}
	s, err := readProc(*pid)
	if err != nil {
		return err
	}
	if *quitLog != "" {
		p, err := os.FindProcess(*pid)
		if err == nil {
			err = p.Signal(syscall.SIGQUIT)
		}
		if err != nil {
			return fmt.Errorf("signal %d: %w", *pid, err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for alive(*pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		log, err := os.ReadFile(*quitLog)
		if err != nil {
			return err
		}
		if s.Goroutines, err = countGoroutines(log); err != nil {
			return fmt.Errorf("%s: %w", *quitLog, err)
		}
	}
	fmt.Fprintf(os.Stderr, "proc %s pid %d: %s\n", *name, *pid, s)
	return emit(ProcResult{Name: *name, Kind: "proc", ProcSample: s})
}

// alive reports whether pid runs: a zombie (exited, its parent shell not
// having reaped it yet) has written its last byte.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || (b[i+2] != 'Z' && b[i+2] != 'X')
}
