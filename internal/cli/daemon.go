package cli

import (
	"context"

	"github.com/hfbroker/hfbroker/internal/client"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// Daemon is the part of hfbrokerd's API the commands use: the real one is a
// *client.Client, tests hand commands a fake (fakeDaemon in daemon_test.go).
type Daemon interface {
	AddToken(context.Context, *pb.AddTokenRequest) (*pb.AddTokenResponse, error)
	RemoveToken(context.Context, *pb.RemoveTokenRequest) (*pb.RemoveTokenResponse, error)
	ListProfiles(context.Context, *pb.ListProfilesRequest) (*pb.ListProfilesResponse, error)
	SetDefault(context.Context, *pb.SetDefaultRequest) (*pb.SetDefaultResponse, error)
	Whoami(context.Context, *pb.WhoamiRequest) (*pb.WhoamiResponse, error)
	Lease(context.Context, *pb.LeaseRequest) (*pb.LeaseResponse, error)
	ListLeases(context.Context, *pb.ListLeasesRequest) (*pb.ListLeasesResponse, error)
	RevokeLease(context.Context, *pb.RevokeLeaseRequest) (*pb.RevokeLeaseResponse, error)
	RenewLease(context.Context, *pb.RenewLeaseRequest) (*pb.RenewLeaseResponse, error)
	Status(context.Context, *pb.StatusRequest) (*pb.StatusResponse, error)
	ReportGitCredential(context.Context, *pb.ReportGitCredentialRequest) (*pb.ReportGitCredentialResponse, error)
	Lock(context.Context, *pb.LockRequest) (*pb.LockResponse, error)
	Unlock(context.Context, *pb.UnlockRequest) (*pb.UnlockResponse, error)
	ChangePassphrase(context.Context, *pb.ChangePassphraseRequest) (*pb.ChangePassphraseResponse, error)
	Migrate(context.Context, *pb.MigrateRequest) (*pb.MigrateResponse, error)
	Check(context.Context, *pb.CheckRequest) (*pb.CheckResponse, error)
	StartWebLogin(context.Context, *pb.StartWebLoginRequest) (*pb.StartWebLoginResponse, error)
	PollWebLogin(context.Context, *pb.PollWebLoginRequest) (*pb.PollWebLoginResponse, error)
	RegisterForward(context.Context, *pb.RegisterForwardRequest) (*pb.RegisterForwardResponse, error)
	// SocketPath is the socket the connection goes to.
	SocketPath() string
	// Close ends the connection.
	Close() error
}

var _ Daemon = (*client.Client)(nil)

// DaemonFunc connects to the daemon: the client getter a command's options
// hold.
type DaemonFunc func(ctx context.Context) (Daemon, error)

// withDaemon connects with connect, runs fn and closes the connection.
func withDaemon(ctx context.Context, connect DaemonFunc, fn func(Daemon) error) error {
	d, err := connect(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	return fn(d)
}

// dialDaemon is client.Dial as a Daemon (never a nil *client.Client in a
// non-nil interface).
func dialDaemon(ctx context.Context, opts client.Options) (Daemon, error) {
	c, err := client.Dial(ctx, opts)
	if err != nil {
		return nil, err
	}
	return c, nil
}
