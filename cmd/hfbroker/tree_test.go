//go:build unix

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// Issue 20: `hfbroker exec -- sh -c 'sleep 3 & exit 0'`, and the same with
// setsid, nohup and a double fork. The job's first process exits at once;
// its background worker goes on using the lease token through the proxy,
// and the lease ends within a second of the worker's exit, not before.
//
// The worker is told when to call the Hub and when to exit through FIFOs,
// so the test waits on events, never on time.
func TestExecLeaseLivesWithTheWholeProcessTree(t *testing.T) {
	for _, tc := range []struct{ name, spawn string }{
		{"a background child", `sh ./worker.sh & exit 0`},
		{"setsid", `setsid sh ./worker.sh & exit 0`},
		{"nohup", `nohup sh ./worker.sh >/dev/null 2>&1 & exit 0`},
		{"a double fork", `(sh ./worker.sh &); exit 0`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newExecWorld(t)
			dir := t.TempDir()
			for _, f := range []string{"go.fifo", "stop.fifo"} {
				if err := syscall.Mkfifo(filepath.Join(dir, f), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			worker := `read _ < go.fifo
printf %s "$HF_TOKEN" > lease.txt
printf %s "$HF_ENDPOINT" > proxy.txt
curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $HF_TOKEN" "$HF_ENDPOINT/api/whoami-v2" > code.txt
read _ < stop.fifo
`
			if err := os.WriteFile(filepath.Join(dir, "worker.sh"), []byte(worker), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := w.command("exec", "--proxy", "--", "sh", "-c", tc.spawn)
			cmd.Dir = dir
			// A file, not a pipe: the worker inherits it and outlives the
			// command, and a pipe would hold Run until the worker exits.
			out, err := os.Create(filepath.Join(dir, "out.txt"))
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stdout, cmd.Stderr = out, out
			err = cmd.Run()
			out.Close()
			if err != nil {
				t.Fatalf("hfbroker exec: %v\n%s", err, readFile(t, dir, "out.txt"))
			}
			top := cmd.Process.Pid

			// The first process has exited; once the daemon has seen it, the
			// lease lives with the worker.
			l := w.waitLease(func(l *pb.Lease) bool { return len(l.GetPids()) > 0 && !slices.Contains(l.GetPids(), int32(top)) })
			if l.GetFollow() != "tree" {
				t.Fatalf("lease follows %q, want tree", l.GetFollow())
			}

			writeFIFO(t, filepath.Join(dir, "go.fifo"))
			// The worker has written code.txt once it opens stop.fifo.
			stop, err := os.OpenFile(filepath.Join(dir, "stop.fifo"), os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if code := readFile(t, dir, "code.txt"); code != "200" {
				t.Fatalf("the background worker's Hub call answered %s, want 200", code)
			}
			if !w.isLive(l.GetId()) {
				t.Fatal("the lease ended while the worker runs")
			}

			stopped := time.Now()
			stop.Write([]byte("\n"))
			stop.Close()
			ev := w.ended(l.GetId())
			if ev.Cause != "exit" {
				t.Errorf("lease ended with cause %q, want exit", ev.Cause)
			}
			if took := ev.Time.Sub(stopped); took > time.Second {
				t.Errorf("the lease ended %s after its last process, want within 1s", took)
			}
			// And its token is dead.
			code, err := exec.Command("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
				"-H", "Authorization: Bearer "+readFile(t, dir, "lease.txt"), readFile(t, dir, "proxy.txt")+"/api/whoami-v2").Output()
			if err != nil || string(code) != "401" {
				t.Errorf("the ended lease's token: %s %v, want 401", code, err)
			}
		})
	}
}

// A lease until exit (--ttl 0) outlives the default TTL, shortened here to
// 2 s, and still ends with its job.
func TestExecLeaseUntilExitOutlivesTheDefaultTTL(t *testing.T) {
	w := newExecWorld(t)
	cfg := filepath.Join(w.home, ".config", "hfbroker", "config.toml")
	if err := os.MkdirAll(filepath.Dir(cfg), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte("[lease]\ndefault_ttl = \"2s\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stopDaemon(w.sock) // a new daemon reads the config (and has no token: memory backend)
	if _, errOut, err := w.run(w.token, "login"); err != nil {
		t.Fatalf("hfbroker login: %v\n%s", err, errOut)
	}
	dir := t.TempDir()
	fifo := filepath.Join(dir, "stop.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	short := w.command("exec", "--", "sh", "-c", "read _ < "+fifo)
	long := w.command("exec", "--ttl", "0", "--", "sh", "-c", "read _ < "+fifo)
	for _, c := range []*exec.Cmd{short, long} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	ls := w.leaseFor(short.Process.Pid)
	ll := w.leaseFor(long.Process.Pid)
	if !ll.GetUntilExit() {
		t.Fatal("exec --ttl 0 did not ask for a lease until exit")
	}
	if ev := w.ended(ls.GetId()); ev.Cause != "ttl" {
		t.Fatalf("the default-TTL lease ended with %q, want ttl", ev.Cause)
	}
	if !w.isLive(ll.GetId()) {
		t.Fatal("the lease until exit ended with the default TTL")
	}
	// Both jobs read one line each from the FIFO, then exit.
	f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("a\nb\n"))
	f.Close()
	short.Wait()
	long.Wait()
	if ev := w.ended(ll.GetId()); ev.Cause != "exit" {
		t.Fatalf("the lease until exit ended with %q, want exit", ev.Cause)
	}
}

// waitLease waits for the one live lease to satisfy ok.
func (w *execWorld) waitLease(ok func(*pb.Lease) bool) *pb.Lease {
	w.t.Helper()
	deadline := time.Now().Add(execDeadline)
	for time.Now().Before(deadline) {
		ls, err := liveLeases(w.getenv)
		if err != nil {
			w.t.Fatal(err)
		}
		if len(ls) == 1 && ok(ls[0]) {
			return ls[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
	w.t.Fatalf("no such lease within %s", execDeadline)
	return nil
}

// writeFIFO opens a FIFO for writing (waiting for its reader) and writes a line.
func writeFIFO(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("\n"))
	f.Close()
}

func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
