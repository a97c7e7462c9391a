package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// fakeDaemon is a Daemon that answers from the functions a test sets and
// records what it was asked. A call the test did not expect panics (the
// embedded Daemon is nil).
type fakeDaemon struct {
	Daemon

	lease        func(*pb.LeaseRequest) (*pb.LeaseResponse, error)
	listLeases   func(*pb.ListLeasesRequest) (*pb.ListLeasesResponse, error)
	revokeLease  func(*pb.RevokeLeaseRequest) (*pb.RevokeLeaseResponse, error)
	renewLease   func(*pb.RenewLeaseRequest) (*pb.RenewLeaseResponse, error)
	status       func(*pb.StatusRequest) (*pb.StatusResponse, error)
	listProfiles func(*pb.ListProfilesRequest) (*pb.ListProfilesResponse, error)
	setDefault   func(*pb.SetDefaultRequest) (*pb.SetDefaultResponse, error)
	removeToken  func(*pb.RemoveTokenRequest) (*pb.RemoveTokenResponse, error)
	lock         func(*pb.LockRequest) (*pb.LockResponse, error)
	whoami       func(*pb.WhoamiRequest) (*pb.WhoamiResponse, error)

	calls  []string
	closed int
}

func (d *fakeDaemon) called(name string) { d.calls = append(d.calls, name) }

func (d *fakeDaemon) Lease(_ context.Context, r *pb.LeaseRequest) (*pb.LeaseResponse, error) {
	d.called("Lease")
	return d.lease(r)
}

func (d *fakeDaemon) ListLeases(_ context.Context, r *pb.ListLeasesRequest) (*pb.ListLeasesResponse, error) {
	d.called("ListLeases")
	return d.listLeases(r)
}

func (d *fakeDaemon) RevokeLease(_ context.Context, r *pb.RevokeLeaseRequest) (*pb.RevokeLeaseResponse, error) {
	d.called("RevokeLease")
	return d.revokeLease(r)
}

func (d *fakeDaemon) RenewLease(_ context.Context, r *pb.RenewLeaseRequest) (*pb.RenewLeaseResponse, error) {
	d.called("RenewLease")
	return d.renewLease(r)
}

func (d *fakeDaemon) Status(_ context.Context, r *pb.StatusRequest) (*pb.StatusResponse, error) {
	d.called("Status")
	return d.status(r)
}

func (d *fakeDaemon) ListProfiles(_ context.Context, r *pb.ListProfilesRequest) (*pb.ListProfilesResponse, error) {
	d.called("ListProfiles")
	return d.listProfiles(r)
}

func (d *fakeDaemon) SetDefault(_ context.Context, r *pb.SetDefaultRequest) (*pb.SetDefaultResponse, error) {
	d.called("SetDefault")
	return d.setDefault(r)
}

func (d *fakeDaemon) RemoveToken(_ context.Context, r *pb.RemoveTokenRequest) (*pb.RemoveTokenResponse, error) {
	d.called("RemoveToken")
	return d.removeToken(r)
}

func (d *fakeDaemon) Lock(_ context.Context, r *pb.LockRequest) (*pb.LockResponse, error) {
	d.called("Lock")
	return d.lock(r)
}

func (d *fakeDaemon) Whoami(_ context.Context, r *pb.WhoamiRequest) (*pb.WhoamiResponse, error) {
	d.called("Whoami")
	return d.whoami(r)
}

func (d *fakeDaemon) SocketPath() string { return "/run/user/1000/hfbroker/hfbroker.sock" }

func (d *fakeDaemon) Close() error {
	d.closed++
	return nil
}

// connectTo is a client getter that hands out d.
func connectTo(d Daemon) DaemonFunc {
	return func(context.Context) (Daemon, error) { return d, nil }
}

// testIO is IOStreams on buffers, stdin not a terminal.
func testIO() (*IOStreams, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	io := &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut, InFd: -1}
	io.SetStdinTTY(false)
	return io, &out, &errOut
}

// assertNoToken fails the test when any of the texts holds tok.
func assertNoToken(t *testing.T, tok string, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if strings.Contains(s, tok) {
			t.Errorf("the token appears in %q", s)
		}
	}
}
