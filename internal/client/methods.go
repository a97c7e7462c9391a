package client

import (
	"context"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/code"

	"github.com/hfbroker/hfbroker/internal/lane"

	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// One method per BrokerService RPC (proto/hfbroker/v1/broker_service.proto).

// AddToken calls BrokerService.AddToken.
func (c *Client) AddToken(ctx context.Context, req *pb.AddTokenRequest) (*pb.AddTokenResponse, error) {
	return invoke(ctx, c, "AddToken", req, new(pb.AddTokenResponse))
}

// RemoveToken calls BrokerService.RemoveToken.
func (c *Client) RemoveToken(ctx context.Context, req *pb.RemoveTokenRequest) (*pb.RemoveTokenResponse, error) {
	return invoke(ctx, c, "RemoveToken", req, new(pb.RemoveTokenResponse))
}

// ListProfiles calls BrokerService.ListProfiles.
func (c *Client) ListProfiles(ctx context.Context, req *pb.ListProfilesRequest) (*pb.ListProfilesResponse, error) {
	return invoke(ctx, c, "ListProfiles", req, new(pb.ListProfilesResponse))
}

// SetDefault calls BrokerService.SetDefault.
func (c *Client) SetDefault(ctx context.Context, req *pb.SetDefaultRequest) (*pb.SetDefaultResponse, error) {
	return invoke(ctx, c, "SetDefault", req, new(pb.SetDefaultResponse))
}

// Whoami calls BrokerService.Whoami.
func (c *Client) Whoami(ctx context.Context, req *pb.WhoamiRequest) (*pb.WhoamiResponse, error) {
	return invoke(ctx, c, "Whoami", req, new(pb.WhoamiResponse))
}

// Lease calls BrokerService.Lease. Its messages are encoded by hand
// (wire.go): `hfbroker token`, `exec` and git's credential helper make this
// one call, and proto's reflection would cost them more than the call.
func (c *Client) Lease(ctx context.Context, req *pb.LeaseRequest) (*pb.LeaseResponse, error) {
	out, err := invokeRaw(ctx, c, "Lease", appendLeaseRequest(nil, req))
	if err != nil {
		return nil, err
	}
	resp, err := decodeLeaseResponse(out)
	if err != nil {
		return nil, &lane.Error{Code: code.Code_INTERNAL, Message: fmt.Sprintf("decode Lease response: %v", err)}
	}
	return resp, nil
}

// ListLeases calls BrokerService.ListLeases.
func (c *Client) ListLeases(ctx context.Context, req *pb.ListLeasesRequest) (*pb.ListLeasesResponse, error) {
	return invoke(ctx, c, "ListLeases", req, new(pb.ListLeasesResponse))
}

// RevokeLease calls BrokerService.RevokeLease.
func (c *Client) RevokeLease(ctx context.Context, req *pb.RevokeLeaseRequest) (*pb.RevokeLeaseResponse, error) {
	return invoke(ctx, c, "RevokeLease", req, new(pb.RevokeLeaseResponse))
}

// RenewLease calls BrokerService.RenewLease.
func (c *Client) RenewLease(ctx context.Context, req *pb.RenewLeaseRequest) (*pb.RenewLeaseResponse, error) {
	return invoke(ctx, c, "RenewLease", req, new(pb.RenewLeaseResponse))
}

// Status calls BrokerService.Status.
func (c *Client) Status(ctx context.Context, req *pb.StatusRequest) (*pb.StatusResponse, error) {
	return invoke(ctx, c, "Status", req, new(pb.StatusResponse))
}

// ReportGitCredential calls BrokerService.ReportGitCredential. Its messages
// are encoded by hand (wire.go), as Lease's are: git runs the helper's
// store after every operation that used a token.
func (c *Client) ReportGitCredential(ctx context.Context, req *pb.ReportGitCredentialRequest) (*pb.ReportGitCredentialResponse, error) {
	out, err := invokeRaw(ctx, c, "ReportGitCredential", appendReportGitCredentialRequest(nil, req))
	if err != nil {
		return nil, err
	}
	resp, err := decodeReportGitCredentialResponse(out)
	if err != nil {
		return nil, &lane.Error{Code: code.Code_INTERNAL, Message: fmt.Sprintf("decode ReportGitCredential response: %v", err)}
	}
	return resp, nil
}

// Lock calls BrokerService.Lock.
func (c *Client) Lock(ctx context.Context, req *pb.LockRequest) (*pb.LockResponse, error) {
	return invoke(ctx, c, "Lock", req, new(pb.LockResponse))
}

// Unlock calls BrokerService.Unlock.
func (c *Client) Unlock(ctx context.Context, req *pb.UnlockRequest) (*pb.UnlockResponse, error) {
	return invoke(ctx, c, "Unlock", req, new(pb.UnlockResponse))
}

// ChangePassphrase calls BrokerService.ChangePassphrase.
func (c *Client) ChangePassphrase(ctx context.Context, req *pb.ChangePassphraseRequest) (*pb.ChangePassphraseResponse, error) {
	return invoke(ctx, c, "ChangePassphrase", req, new(pb.ChangePassphraseResponse))
}

// Migrate calls BrokerService.Migrate.
func (c *Client) Migrate(ctx context.Context, req *pb.MigrateRequest) (*pb.MigrateResponse, error) {
	return invoke(ctx, c, "Migrate", req, new(pb.MigrateResponse))
}

// Check calls BrokerService.Check.
func (c *Client) Check(ctx context.Context, req *pb.CheckRequest) (*pb.CheckResponse, error) {
	return invoke(ctx, c, "Check", req, new(pb.CheckResponse))
}

// StartWebLogin calls BrokerService.StartWebLogin.
func (c *Client) StartWebLogin(ctx context.Context, req *pb.StartWebLoginRequest) (*pb.StartWebLoginResponse, error) {
	return invoke(ctx, c, "StartWebLogin", req, new(pb.StartWebLoginResponse))
}

// PollWebLogin calls BrokerService.PollWebLogin.
func (c *Client) PollWebLogin(ctx context.Context, req *pb.PollWebLoginRequest) (*pb.PollWebLoginResponse, error) {
	return invoke(ctx, c, "PollWebLogin", req, new(pb.PollWebLoginResponse))
}

// RegisterForward calls BrokerService.RegisterForward.
func (c *Client) RegisterForward(ctx context.Context, req *pb.RegisterForwardRequest) (*pb.RegisterForwardResponse, error) {
	return invoke(ctx, c, "RegisterForward", req, new(pb.RegisterForwardResponse))
}
