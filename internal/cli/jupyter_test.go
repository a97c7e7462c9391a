package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

func TestKernelLabelNamesTheConnectionFile(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"python3", "-m", "ipykernel_launcher", "-f", "/run/k-1.json"}, "jupyter kernel k, /run/k-1.json"},
		{[]string{"python3", "-m", "ipykernel_launcher", "--f=/run/k-2.json"}, "jupyter kernel k, /run/k-2.json"},
		{[]string{"julia", "-i", "kernel.jl", "-f/run/k-3.json"}, "jupyter kernel k, /run/k-3.json"},
		{[]string{"R", "--slave"}, "jupyter kernel k"},
		{[]string{"x", "-f", "/run/a\nb.json"}, "jupyter kernel k, /run/a?b.json"},
	} {
		if got := kernelLabel("k", tc.args); got != tc.want {
			t.Errorf("kernelLabel(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
	// A label fits the broker's bound, keeping the end of the path, which
	// names the kernel.
	long := kernelLabel(strings.Repeat("n", 300), []string{"-f", "/" + strings.Repeat("d", 300) + "/kernel-42.json"})
	if len(long) > 256 || !strings.HasSuffix(long, "/kernel-42.json") || !strings.HasPrefix(long, "jupyter kernel nnn") {
		t.Errorf("long label (%d bytes) = %q", len(long), long)
	}
}

func TestKernelspecKnowsHfbrokerKernels(t *testing.T) {
	spec := func(argv ...string) kernelspec {
		a := make([]any, len(argv))
		for i, s := range argv {
			a[i] = s
		}
		return kernelspec{Spec: map[string]any{"argv": a}}
	}
	if _, ours := spec("/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "{connection_file}").hfbroker(); ours {
		t.Error("the plain python3 kernel counted as hfbroker's")
	}
	m, ours := spec("/usr/bin/hfbroker", "jupyter", "kernel", "--name", "hfbroker-python3", "--", "python3").hfbroker()
	if !ours || m.Mode != "proxy" {
		t.Errorf("hfbroker kernel: %v %+v", ours, m)
	}
	k := spec("/opt/bin/hfb-1.2", "jupyter", "kernel", "--env-mode", "--", "python3")
	k.Spec["metadata"] = map[string]any{"hfbroker": map[string]any{"wraps": "python3", "mode": "env"}}
	if m, ours := k.hfbroker(); !ours || m.Mode != "env" || m.Wraps != "python3" {
		t.Errorf("marked kernel under another binary name: %v %+v", ours, m)
	}
}

// The kernel's lease is asked for the Hub the options' Endpoint names, for
// as long as the kernel's processes live; under 'exec --proxy' (HF_ENDPOINT
// the proxy) for any endpoint. The run function needs no cobra command: a
// failed lease is reported with its hint as any command's error is.
func TestKernelLeaseAsksForTheKernelsOwnLease(t *testing.T) {
	var asked []*pb.LeaseRequest
	d := &fakeDaemon{lease: func(r *pb.LeaseRequest) (*pb.LeaseResponse, error) {
		asked = append(asked, r)
		return &pb.LeaseResponse{Token: runTestToken, ProxyEndpoint: "http://127.0.0.1:7777", LeaseId: "l-1"}, nil
	}}
	io, _, _ := testIO()
	opts := &JupyterKernelOptions{IO: io, Daemon: connectTo(d), Env: noEnv, Endpoint: hubEndpoint,
		Name: "hfbroker-python3", Args: []string{"python3", "-m", "ipykernel_launcher", "-f", "/run/jupyter/kernel-1.json"}}
	if _, err := kernelLease(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	opts.anyEndpoint = true
	if _, err := kernelLease(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 2 {
		t.Fatalf("asked %d leases", len(asked))
	}
	if r := asked[0]; r.GetEndpoint() != "https://huggingface.co" || !r.GetUntilExit() || r.GetPurpose() != pb.Purpose_PURPOSE_PROXY ||
		r.GetLabel() != "jupyter kernel hfbroker-python3, /run/jupyter/kernel-1.json" {
		t.Errorf("asked %v", r)
	}
	if r := asked[1]; r.GetEndpoint() != "" {
		t.Errorf("under exec --proxy the lease was for %q, want any endpoint", r.GetEndpoint())
	}

	var errOut bytes.Buffer
	if code := reportError(&errOut, nil, &UsageError{errors.New("bad")}); code != ExitUsage ||
		errOut.String() != "hfbroker: error: bad\nhfbroker: hint: run 'hfbroker --help' for usage\n" {
		t.Errorf("without a command: exit %d, %q", code, errOut.String())
	}
}
