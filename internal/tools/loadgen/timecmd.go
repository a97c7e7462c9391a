package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	fresh := fs.Bool("fresh", false, "run copies of the commands' executables, all written at the start, each alone in its own directory")
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
	if *fresh {
		dir, err := os.MkdirTemp("", "loadgen-fresh-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if err := freshCopies(dir, argvs); err != nil {
			return err
		}
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

// freshCopies points each argv at a copy of its executable, written now, in
// a directory of its own under dir (the base name kept, for a program that
// reads its argv[0]). On this project's benchmark VMs a binary whose file
// was written minutes ago starts 0.2-0.5 ms faster than the same bytes
// written earlier (docs/benchmarks-analysis.md, round 6i), so commands built
// or installed at different times are compared here at the same age.
func freshCopies(dir string, argvs [][]string) error {
	for i, argv := range argvs {
		sub := filepath.Join(dir, strconv.Itoa(i))
		if err := os.Mkdir(sub, 0o700); err != nil {
			return err
		}
		dst := filepath.Join(sub, filepath.Base(argv[0]))
		if err := copyExecutable(dst, argv[0]); err != nil {
			return fmt.Errorf("copy %s: %w", argv[0], err)
		}
		argv[0] = dst
	}
	return nil
}

func copyExecutable(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o700)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
