//go:build unix

package main

import (
	"os"
	"regexp"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
	extraCmds["wait-log"] = cmdWaitLog
}

// wait-log FILE REGEXP: wait (up to 30 s) until FILE, a log the daemon
// appends to, has a line matching REGEXP: the event a script waits on when
// the daemon acts on its own, as on a signal.
func cmdWaitLog(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: wait-log FILE REGEXP")
	}
	re, err := regexp.Compile("(?m)" + args[1])
	ts.Check(err)
	for range 1500 {
		if b, err := os.ReadFile(ts.MkAbs(args[0])); err == nil && re.Match(b) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("%s has no line matching %q within 30 s", args[0], args[1])
}
