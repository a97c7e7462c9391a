package daemon

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/hfbroker/hfbroker/internal/client"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// manyJobs is how many jobs TestManyJobsWithBackgroundChildrenLeaveNothingBehind
// runs: the 1,000.
const manyJobs = 1000

// Issue 20 item 7: the daemon's goroutines and open descriptors return to
// their idle count after 1,000 jobs with background children (each leased
// the way 'hfbroker exec -- sh -c "sleep 0.01 & exit 0"' is: the lease for
// the job's process, whose background child carries the lease id), and
// nothing is left once it stops (goleak). The daemon runs in-process, so its
// descriptors (pidfds, the state file's) are this process's.
func TestManyJobsWithBackgroundChildrenLeaveNothingBehind(t *testing.T) {
	checkNoLeaks(t)
	d := startTestDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{Socket: d.sock, NoAutostart: true, Env: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	job := func() {
		// The shell reads its lease id, then becomes the job with the id in
		// its environment, as exec's child does; the backgrounded sleep
		// outlives it.
		cmd := exec.Command("sh", "-c", `read id; HFBROKER_LEASE=$id exec sh -c 'sleep 0.01 & exit 0'`)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		resp, err := c.Lease(ctx, &pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_EXEC, Pid: int32(cmd.Process.Pid)})
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("Lease: %v", err)
		}
		io.WriteString(stdin, resp.GetLeaseId()+"\n")
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("job: %v", err)
		}
	}
	settle := func(what string, maxG, maxFDs int) (int, int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			ls, err := c.ListLeases(ctx, &pb.ListLeasesRequest{})
			if err != nil {
				t.Fatal(err)
			}
			g, fds := runtime.NumGoroutine(), openFDs(t)
			if len(ls.GetLeases()) == 0 && (maxG == 0 || g <= maxG && fds <= maxFDs) {
				return g, fds
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d leases, %d goroutines (idle %d), %d descriptors (idle %d)", what, len(ls.GetLeases()), g, maxG, fds, maxFDs)
			}
			time.Sleep(20 * time.Millisecond) // polling for the daemon to settle, not synchronising
		}
	}
	for range 10 {
		job()
	}
	idleG, idleFDs := settle("after the warm-up", 0, 0)
	start := time.Now()
	for range manyJobs {
		job()
	}
	g, fds := settle(fmt.Sprintf("after %d jobs", manyJobs), idleG, idleFDs)
	t.Logf("%d jobs in %v; goroutines %d (idle %d), descriptors %d (idle %d)", manyJobs, time.Since(start).Round(time.Millisecond), g, idleG, fds, idleFDs)
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
