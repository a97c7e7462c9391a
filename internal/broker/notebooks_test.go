package broker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hfbroker/hfbroker/internal/hub"
	"github.com/hfbroker/hfbroker/internal/secret"
)

// Issue 18: a route with a directory gives a lease that names no repo (a
// Jupyter kernel's) the profile for the directory its process works in, read
// from /proc, not from the request.
func TestDirRouteGivesAKernelItsDirectorysProfile(t *testing.T) {
	w := newLeaseWorld(t)
	if _, _, err := w.b.AddToken(context.Background(), AddRequest{Name: "acme",
		Token: secret.Token("hf_" + "ZyXwVuTsRqPoNmLkJiHgFeDcBaZyXwVuTs"), Endpoint: "https://huggingface.co", NoVerify: true}); err != nil {
		t.Fatal(err)
	}
	w.b.Configure(Settings{MaxTTL: time.Hour, Routes: []Route{{Match: "acme/*", Profile: "laptop"}, {Dir: "/home/u/work/acme", Profile: "acme"}}})
	w.procs.cwds = map[int]string{
		500: "/home/u/work/acme/notebooks",
		501: "/home/u/work/acme",
		502: "/home/u/work/acme-other",
		503: "/home/u",
	}
	for pid, want := range map[int]string{500: "acme", 501: "acme", 502: "laptop", 503: "laptop"} {
		w.procs.set(pid, 1)
		g, err := w.b.Lease(context.Background(), LeaseRequest{Purpose: PurposeProxy, UntilExit: true, Caller: Caller{UID: 1000, PID: pid}})
		if err != nil {
			t.Fatalf("pid %d: %v", pid, err)
		}
		if g.Lease.Profile != want {
			t.Errorf("process in %s got profile %q, want %q", w.procs.cwds[pid], g.Lease.Profile, want)
		}
	}
	// A lease that names a repo follows the repo routes, not the directory.
	ref := hub.RepoRef{Type: hub.RepoModel, Namespace: "acme", Name: "llm"}
	g, err := w.b.Lease(context.Background(), LeaseRequest{Purpose: PurposeExec, Repo: &ref, Caller: Caller{UID: 1000, PID: 500}})
	if err != nil {
		t.Fatal(err)
	}
	if g.Lease.Profile != "laptop" {
		t.Errorf("a repo lease from the acme directory got %q, want the repo route's laptop", g.Lease.Profile)
	}
}

// Issue 18: a lease carries a label (a kernel's name and connection file)
// into the lease list; a label is one bounded line.
func TestLeaseLabelIsKeptAndBounded(t *testing.T) {
	w := newLeaseWorld(t)
	w.procs.set(600, 1)
	label := "jupyter kernel hfbroker-python3, /run/user/1000/jupyter/runtime/kernel-1234.json"
	g, err := w.b.Lease(context.Background(), LeaseRequest{Purpose: PurposeProxy, UntilExit: true, Label: label, Caller: Caller{UID: 1000, PID: 600}})
	if err != nil {
		t.Fatal(err)
	}
	if g.Lease.Label != label {
		t.Errorf("granted lease label = %q", g.Lease.Label)
	}
	if ls := w.b.Leases(); len(ls) != 1 || ls[0].Label != label {
		t.Errorf("Leases() = %+v", ls)
	}
	for _, bad := range []string{strings.Repeat("x", MaxLabel+1), "two\nlines", "esc\x1b[2J"} {
		_, err := w.b.Lease(context.Background(), LeaseRequest{Purpose: PurposeProxy, UntilExit: true, Label: bad, Caller: Caller{UID: 1000, PID: 600}})
		if KindOf(err) != KindInvalid {
			t.Errorf("label %q: err = %v, want invalid", bad, err)
		}
	}
}
