//go:build unix

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// The notebook stories (testdata/script/jupyter-*.txtar) run real Jupyter
// kernels through the hfbroker kernelspec; what they need of /proc is here.

func init() {
	extraCmds["procs-hold"] = cmdProcsHold
	extraCmds["wait-lease-pids"] = cmdWaitLeasePids
	extraCmds["copy-save-hook"] = cmdCopySaveHook
}

// copy-save-hook DIR: copy packaging/jupyter/hfbroker_save_hook.py, the file
// users add to jupyter_server_config.py, into DIR.
func cmdCopySaveHook(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: copy-save-hook DIR")
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "packaging", "jupyter", "hfbroker_save_hook.py"))
	ts.Check(err)
	dir := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(dir, 0o755))
	ts.Check(os.WriteFile(filepath.Join(dir, "hfbroker_save_hook.py"), b, 0o644))
}

// procs-hold VAR|@FILE PID: the process PID or one of its descendants holds
// the value of $VAR (or FILE's first line) in its environment, its command
// line or its memory, read through /proc/PID/maps and /proc/PID/mem (which
// needs root, or the same uid and ptrace rights). Negated: none does.
func cmdProcsHold(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: procs-hold VAR|@FILE PID")
	}
	var needle string
	if f, ok := strings.CutPrefix(args[0], "@"); ok {
		b, err := os.ReadFile(ts.MkAbs(f))
		ts.Check(err)
		needle, _, _ = strings.Cut(string(b), "\n")
	} else {
		needle = ts.Getenv(args[0])
	}
	if len(needle) < 8 {
		ts.Fatalf("%s: %q is too short to look for", args[0], needle)
	}
	root, err := strconv.Atoi(args[1])
	ts.Check(err)
	pids := append([]int{root}, descendants(root)...)
	var holders []string
	total := 0
	for _, pid := range pids {
		where, n, err := processHolds(pid, []byte(needle))
		if err != nil {
			ts.Fatalf("read process %d: %v", pid, err)
		}
		total += n
		for _, w := range where {
			holders = append(holders, fmt.Sprintf("%d %s", pid, w))
		}
	}
	ts.Logf("looked through %d processes (%v), %d bytes of memory", len(pids), pids, total)
	if total == 0 {
		ts.Fatalf("read no memory of %v: the check proves nothing", pids)
	}
	switch {
	case neg && len(holders) > 0:
		ts.Fatalf("$%s found in %s", args[0], strings.Join(holders, ", "))
	case !neg && len(holders) == 0:
		ts.Fatalf("$%s found in none of %v", args[0], pids)
	}
}

// descendants are root's children, their children, and so on, as /proc
// says now.
func descendants(root int) []int {
	entries, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		rest := b[bytes.LastIndexByte(b, ')')+1:]
		f := strings.Fields(string(rest))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], pid)
	}
	var out []int
	queue := []int{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			if !slices.Contains(out, c) {
				out = append(out, c)
				queue = append(queue, c)
			}
		}
	}
	return out
}

// processHolds says where in a process needle appears: "environ",
// "cmdline", "memory at 0x…". n is how many bytes of memory it read.
func processHolds(pid int, needle []byte) (where []string, n int, err error) {
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	for _, f := range []string{"environ", "cmdline"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return nil, 0, err
		}
		if bytes.Contains(b, needle) {
			where = append(where, f)
		}
	}
	maps, err := os.Open(filepath.Join(dir, "maps"))
	if err != nil {
		return nil, 0, err
	}
	defer maps.Close()
	mem, err := os.Open(filepath.Join(dir, "mem"))
	if err != nil {
		return nil, 0, err
	}
	defer mem.Close()
	buf := make([]byte, 1<<20)
	sc := bufio.NewScanner(maps)
	for sc.Scan() {
		// start-end perms offset dev inode [path]
		f := strings.Fields(sc.Text())
		if len(f) < 5 || f[1][0] != 'r' || (len(f) > 5 && (f[5] == "[vvar]" || f[5] == "[vsyscall]" || f[5] == "[vvar_vclock]")) {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil {
			continue
		}
		// Read in chunks that overlap by len(needle)-1, so a match across
		// a chunk boundary is found.
		for off := start; off < end; {
			size := min(uint64(len(buf)), end-off)
			k, err := mem.ReadAt(buf[:size], int64(off))
			if k > 0 {
				n += k
				if i := bytes.Index(buf[:k], needle); i >= 0 {
					where = append(where, fmt.Sprintf("memory at %#x", off+uint64(i)))
					break
				}
			}
			if err != nil && !errors.Is(err, io.EOF) {
				break // an unreadable region (a guard page, a device)
			}
			if size < uint64(len(buf)) || uint64(k) < size {
				break
			}
			off += size - uint64(len(needle)-1)
		}
	}
	return where, n, sc.Err()
}

// wait-lease-pids ID @FILE: wait until lease ID lives with exactly the
// processes listed in FILE (one pid a line): after its first process
// exited, the daemon found the others that carry its id.
func cmdWaitLeasePids(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 || !strings.HasPrefix(args[1], "@") {
		ts.Fatalf("usage: wait-lease-pids ID @FILE")
	}
	b, err := os.ReadFile(ts.MkAbs(args[1][1:]))
	ts.Check(err)
	var want []int
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		ts.Check(err)
		want = append(want, pid)
	}
	slices.Sort(want)
	deadline := time.Now().Add(execDeadline)
	for {
		ls, err := liveLeases(ts.Getenv)
		ts.Check(err)
		var got []int
		found := false
		for _, l := range ls {
			if l.GetId() == args[0] {
				found = true
				for _, p := range l.GetPids() {
					got = append(got, int(p))
				}
			}
		}
		if !found {
			ts.Fatalf("lease %s is no longer live", args[0])
		}
		slices.Sort(got)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("lease %s lives with %v after %s, want %v", args[0], got, execDeadline, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
