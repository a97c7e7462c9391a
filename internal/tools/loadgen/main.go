// Command loadgen measures a live hfbrokerd: it drives Lease RPCs (or raw
// echo round trips, the floor) from N concurrent clients, times whole
// commands, samples the daemon's memory, and renders docs/BENCHMARKS.md from
// the results. scripts/bench runs it; no test does.
//
// Usage:
//
//	loadgen lease  -socket S -c 16 (-n 20000 | -d 10s) [-ttl 2s] [-profile P] [-settle 10s]
//	loadgen echo   -socket S -c 16 (-n 20000 | -d 10s)
//	loadgen compare -socket S -echo-socket E -c 16 -rounds 12 -n 2000 [-ttl 2s] [-profile P]
//	loadgen time   -n 30 -cmd 'NAME=CMD ARGS' -cmd 'NAME=CMD ARGS' ...
//	loadgen proc   -pid PID [-goroutines LOGFILE]
//	loadgen wakeups -pid PID [-d 30s] [-leases 1000 -ttl 12h -profile P]
//	loadgen report -results FILE [-gobench FILE]... > docs/BENCHMARKS.md
//
// Each measuring subcommand prints one JSON object per line on stdout (with
// -name to label it) and a human summary on stderr; report reads those lines.
package main

import (
	"encoding/json"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	args := os.Args[2:]
	var err error
	switch os.Args[1] {
	case "lease":
		err = leaseMain(args)
	case "echo":
		err = echoMain(args)
	case "compare":
		err = compareMain(args)
	case "time":
		err = timeMain(args)
	case "proc":
		err = procMain(args)
	case "wakeups":
		err = wakeupsMain(args)
	case "report":
		err = reportMain(args)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: loadgen lease|echo|compare|time|proc|wakeups|report [flags]; see the package doc")
	os.Exit(2)
}

// emit prints a result as one JSON line on stdout.
func emit(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	_, err = fmt.Printf("%s\n", b)
	return err
}
