package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// TimeResult is the wall time of whole commands, run in turn.
type TimeResult struct {
	Name     string        `json:"name"`
	Kind     string        `json:"kind"` // "time"
	Runs     int           `json:"runs"`
	Commands []CommandTime `json:"commands"`
}

// CommandTime is one command's timings.
type CommandTime struct {
	Name    string  `json:"name"`
	Command string  `json:"command"`
	Errors  int     `json:"errors"`
	Latency Latency `json:"latency"`
}

type cmdFlags []string

func (c *cmdFlags) String() string     { return strings.Join(*c, "; ") }
func (c *cmdFlags) Set(v string) error { *c = append(*c, v); return nil }

// timeMain runs each command -n times, round-robin, so that every command
// sees the same machine load; its stdout (a token, for hfbroker token) is
// discarded and never read.
func timeMain(args []string) error {
	fs := flag.NewFlagSet("time", flag.ExitOnError)
	name := fs.String("name", "", "label for the result")
	runs := fs.Int("n", 30, "timed runs of each command")
	warmup := fs.Int("warmup", 3, "untimed runs of each command first (page cache, daemon caches)")
	var cmds cmdFlags
	fs.Var(&cmds, "cmd", "NAME=COMMAND ARGS... (split on spaces; repeat for each command)")
	fs.Parse(args)
	if len(cmds) == 0 {
		return errors.New("no -cmd given")
	}
	res := TimeResult{Name: *name, Kind: "time", Runs: *runs}
	argvs := make([][]string, len(cmds))
	for i, c := range cmds {
		n, line, ok := strings.Cut(c, "=")
		argv := strings.Fields(line)
		if !ok || n == "" || len(argv) == 0 {
			return fmt.Errorf("bad -cmd %q: want NAME=COMMAND ARGS", c)
		}
		p, err := exec.LookPath(argv[0])
		if err != nil {
			return err
		}
		argv[0] = p
		argvs[i] = argv
		res.Commands = append(res.Commands, CommandTime{Name: n, Command: line})
	}
	times := make([][]time.Duration, len(cmds))
	for r := -*warmup; r < *runs; r++ {
		for i, argv := range argvs {
			d, err := runOnce(argv)
			if r < 0 {
				if err != nil {
					return fmt.Errorf("warm-up of %s: %w", res.Commands[i].Name, err)
				}
				continue
			}
			if err != nil {
				res.Commands[i].Errors++
			}
			times[i] = append(times[i], d)
		}
	}
	for i := range res.Commands {
		res.Commands[i].Latency = summarize(times[i])
		fmt.Fprintf(os.Stderr, "time %s/%s: %s, %d errors\n", *name, res.Commands[i].Name, res.Commands[i].Latency, res.Commands[i].Errors)
	}
	return emit(res)
}

// runOnce runs argv and returns its wall time from fork to reap.
func runOnce(argv []string) (time.Duration, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil // /dev/null: a token printed is never kept
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return d, fmt.Errorf("%s: %w", argv[0], err)
	}
	return d, nil
}
