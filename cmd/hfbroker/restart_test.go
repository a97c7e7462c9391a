//go:build unix

package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// Issue 20 item 7: jobs outlive a daemon restart. The story is
// testdata/script/proxy-restart.txtar; these commands read the job's log of
// calls.

func init() {
	extraCmds["wait-calls"] = cmdWaitCalls
	extraCmds["check-calls"] = cmdCheckCalls
}

// call is one line of a job's log: when the call started (seconds) and the
// HTTP status it got (000: no answer, as curl writes it).
type call struct {
	at   float64
	code string
}

func readCalls(ts *testscript.TestScript, name string) []call {
	f, err := os.Open(ts.MkAbs(name))
	if os.IsNotExist(err) {
		return nil
	}
	ts.Check(err)
	defer f.Close()
	var out []call
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 2 {
			continue // a line the job is still writing
		}
		at, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		out = append(out, call{at, fields[1]})
	}
	return out
}

// wait-calls FILE N: wait until the job has logged N more calls that got 200.
// N counts from the last wait-calls on FILE.
func cmdWaitCalls(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: wait-calls FILE N")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	key := "CALLS_SEEN_" + strings.NewReplacer(".", "_", "/", "_").Replace(args[0])
	seen, _ := strconv.Atoi(ts.Getenv(key))
	deadline := time.Now().Add(execDeadline)
	for time.Now().Before(deadline) {
		ok := 0
		calls := readCalls(ts, args[0])
		for _, c := range calls {
			if c.code == "200" {
				ok++
			}
		}
		if ok >= seen+n {
			ts.Setenv(key, strconv.Itoa(ok))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.Fatalf("the job did not log %d more answered calls", n)
}

// check-calls FILE MAXREFUSED MAXWAIT: the job's calls were answered 200
// but for runs without an answer (curl's 000: connection refused, the daemon
// restarting) of at most MAXREFUSED each, from the first refused call to the
// next answered one, and runs of 503 (restored leases waiting for the vault's
// unlock, with Retry-After, which huggingface_hub retries) that, refused
// calls included, lasted at most MAXWAIT until the next 200. The last call
// got 200.
func cmdCheckCalls(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: check-calls FILE MAXREFUSED MAXWAIT")
	}
	maxRefused, err := time.ParseDuration(args[1])
	ts.Check(err)
	maxWait, err := time.ParseDuration(args[2])
	ts.Check(err)
	calls := readCalls(ts, args[0])
	if len(calls) == 0 {
		ts.Fatalf("no calls logged")
	}
	since := func(from, to float64) time.Duration {
		return time.Duration((to - from) * float64(time.Second)).Round(time.Millisecond)
	}
	refusedSince, failedSince := -1.0, -1.0
	ok, refused, waited := 0, 0, 0
	for _, c := range calls {
		if c.code != "000" && refusedSince >= 0 {
			ts.Logf("refused for %v", since(refusedSince, c.at))
			if since(refusedSince, c.at) > maxRefused {
				ts.Fatalf("calls were refused for %v (from %.3f), more than %v", since(refusedSince, c.at), refusedSince, maxRefused)
			}
			refusedSince = -1
		}
		switch c.code {
		case "200":
			ok++
			if failedSince >= 0 {
				ts.Logf("no 200 for %v", since(failedSince, c.at))
				if since(failedSince, c.at) > maxWait {
					ts.Fatalf("calls got no 200 for %v (from %.3f), more than %v", since(failedSince, c.at), failedSince, maxWait)
				}
				failedSince = -1
			}
			continue
		case "000":
			refused++
			if refusedSince < 0 {
				refusedSince = c.at
			}
		case "503":
			waited++
		default:
			ts.Fatalf("a call got %s (at %.3f)", c.code, c.at)
		}
		if failedSince < 0 {
			failedSince = c.at
		}
	}
	if failedSince >= 0 {
		ts.Fatalf("the job's last calls failed (from %.3f)", failedSince)
	}
	ts.Logf("%d calls answered 200, %d refused, %d got 503", ok, refused, waited)
}
