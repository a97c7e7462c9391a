// Package server is the gRPC face of the broker: it validates requests, takes
// the caller's identity from the socket, calls the broker and maps its errors
// to status codes in one place.
package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hfbroker/hfbroker/internal/audit"
	"github.com/hfbroker/hfbroker/internal/broker"
	"github.com/hfbroker/hfbroker/internal/hubapi"
	"github.com/hfbroker/hfbroker/internal/osproc"
	"github.com/hfbroker/hfbroker/internal/peercred/grpccred"
	"github.com/hfbroker/hfbroker/internal/secret"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
	"github.com/hfbroker/hfbroker/proto/hfbroker/v1/hfbrokerv1grpc"
)

// Info is what Status reports besides the broker's own state.
type Info struct {
	Socket        string
	Backend       string
	BackendReason string
	Version       string
	// Build is the daemon binary's build (internal/buildinfo).
	Build     *pb.BuildInfo
	StartedAt time.Time
	// OpenStore opens a backend for Migrate ("keychain" or "file"); for the
	// file backend it unlocks (or creates) the vault with passphrase.
	OpenStore func(ctx context.Context, kind string, passphrase []byte) (broker.Store, error)
	// SetBackend records the backend tokens live in after a migration, so the
	// next daemon start opens it.
	SetBackend func(kind string) error
	// Config reports the config in force; nil reports none.
	Config func() ConfigState
	// Proxy issues lease tokens for PROXY leases.
	Proxy interface {
		Issue(l broker.Lease, real secret.Token) (leaseToken, url string, err error)
	}
}

// ConfigState is the config.toml in force: where, when it was read, a short
// hash of its text ("" when there is no file), and why the file as it is on
// disk now was not loaded (the last good config then stays in force).
type ConfigState struct {
	Path     string
	LoadedAt time.Time
	Hash     string
	Err      error
}

// Server implements hfbroker.v1.BrokerService.
type Server struct {
	hfbrokerv1grpc.UnimplementedBrokerServiceServer
	b     *broker.Broker
	info  Info
	procs broker.Procs
}

// New returns a Server over b.
func New(b *broker.Broker, info Info) *Server {
	return &Server{b: b, info: info, procs: osproc.Table{}}
}

// caller identifies the peer from the credentials the transport read off the
// socket at accept; the request itself is never trusted for identity.
func (s *Server) caller(ctx context.Context) broker.Caller {
	c, ok := grpccred.FromContext(ctx)
	if !ok {
		return broker.Caller{UID: -1}
	}
	// Exe and Cwd are filled in by the broker when it writes the audit
	// event, from the connection's process (read once per connection) or
	// from what it already knows of the process.
	cp, _ := grpccred.ProcessFromContext(ctx).(broker.CallerProcess)
	return broker.Caller{UID: int(c.UID), PID: int(c.PID), Process: cp}
}

type forwardKey struct{}

// WithForward marks ctx as a call that came through the restricted socket's
// forward f (issue 15): Lease records f on the lease and in the audit log.
func WithForward(ctx context.Context, f broker.Forward) context.Context {
	return context.WithValue(ctx, forwardKey{}, f)
}

func (s *Server) AddToken(ctx context.Context, req *pb.AddTokenRequest) (*pb.AddTokenResponse, error) {
	// The endpoint is where the token will be sent, by the Hub client and
	// the proxy: the same rules as HF_ENDPOINT (https, or http on loopback).
	endpoint, err := hubapi.NormalizeEndpoint(req.GetEndpoint())
	if err != nil {
		return nil, toStatus(&broker.Error{Kind: broker.KindInvalid, Msg: err.Error(), Hint: "set HF_ENDPOINT to an https URL such as https://huggingface.co"})
	}
	p, replaced, err := s.b.AddToken(ctx, broker.AddRequest{
		Name:        req.GetName(),
		Token:       secret.Token(req.GetToken()),
		Endpoint:    endpoint,
		MakeDefault: req.GetMakeDefault(),
		NoVerify:    req.GetNoVerify(),
		Caller:      s.caller(ctx),
		Refresh:     secret.Token(req.GetRefreshToken()),
		ExpiresAt:   optionalTime(req.GetExpiresAt()),
		ClientID:    req.GetClientId(),
	})
	held := errors.Is(err, broker.ErrAlreadyStored)
	if err != nil && !held {
		return nil, toStatus(err)
	}
	_, def := s.b.Profiles()
	return &pb.AddTokenResponse{Profile: profileProto(p, def), Replaced: replaced, AlreadyStored: held}, nil
}

func (s *Server) RemoveToken(ctx context.Context, req *pb.RemoveTokenRequest) (*pb.RemoveTokenResponse, error) {
	n, err := s.b.RemoveToken(ctx, req.GetName(), s.caller(ctx))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.RemoveTokenResponse{EndedLeases: int32(n)}, nil
}

func (s *Server) ListProfiles(ctx context.Context, _ *pb.ListProfilesRequest) (*pb.ListProfilesResponse, error) {
	ps, def := s.b.Profiles()
	out := &pb.ListProfilesResponse{}
	for _, p := range ps {
		out.Profiles = append(out.Profiles, profileProto(p, def))
	}
	return out, nil
}

func (s *Server) SetDefault(ctx context.Context, req *pb.SetDefaultRequest) (*pb.SetDefaultResponse, error) {
	p, err := s.b.SetDefault(req.GetName())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.SetDefaultResponse{Profile: profileProto(p, p.Name)}, nil
}

func (s *Server) Whoami(ctx context.Context, req *pb.WhoamiRequest) (*pb.WhoamiResponse, error) {
	p, err := s.b.Whoami(ctx, req.GetProfile(), req.GetRefresh())
	if err != nil {
		return nil, toStatus(err)
	}
	_, def := s.b.Profiles()
	return whoamiProto(p, def), nil
}

func (s *Server) Lease(ctx context.Context, req *pb.LeaseRequest) (*pb.LeaseResponse, error) {
	lr := broker.LeaseRequest{
		Profile:   req.GetProfile(),
		Endpoint:  req.GetEndpoint(),
		PID:       int(req.GetPid()),
		Caller:    s.caller(ctx),
		UntilExit: req.GetUntilExit(),
		Label:     req.GetLabel(),
	}
	lr.Forward, _ = ctx.Value(forwardKey{}).(broker.Forward)
	switch req.GetAccess() {
	case pb.Access_ACCESS_WRITE:
		lr.Access = broker.AccessWrite
	case pb.Access_ACCESS_READ:
		lr.Access = broker.AccessRead
	}
	// ACCESS_UNSPECIFIED stays 0: for git, the broker then prefers a token
	// that can push; for everything else it means read.
	switch req.GetPurpose() {
	case pb.Purpose_PURPOSE_EXEC:
		lr.Purpose = broker.PurposeExec
	case pb.Purpose_PURPOSE_GIT:
		lr.Purpose = broker.PurposeGit
	case pb.Purpose_PURPOSE_PROXY:
		lr.Purpose = broker.PurposeProxy
	default:
		lr.Purpose = broker.PurposeToken
	}
	if d := req.GetTtl(); d != nil {
		if err := d.CheckValid(); err != nil {
			return nil, status.Error(codes.InvalidArgument, "invalid ttl")
		}
		lr.TTL = d.AsDuration()
	}
	if r := req.GetRepo(); r != nil && r.GetId() != "" {
		ref, err := hubapi.ParseRepo(r.GetId(), repoTypeFromProto(r.GetType()))
		if err != nil {
			return nil, toStatus(&broker.Error{Kind: broker.KindInvalid, Msg: err.Error(), Hint: "name the repo as NAMESPACE/NAME, e.g. acme/llm or datasets/acme/data"})
		}
		lr.Repo = &ref
	}
	if len(req.GetRepos()) > maxRepos {
		return nil, toStatus(&broker.Error{Kind: broker.KindInvalid, Msg: fmt.Sprintf("a lease may name at most %d repos", maxRepos)})
	}
	for _, g := range req.GetRepos() {
		r := g.GetRepo()
		ref, err := hubapi.ParseRepoPattern(r.GetId(), repoTypeFromProto(r.GetType()))
		if err != nil {
			return nil, toStatus(&broker.Error{Kind: broker.KindInvalid, Msg: err.Error(), Hint: "name repos as NAMESPACE/NAME or NAMESPACE/*, e.g. acme/llm or datasets/acme/*"})
		}
		a := broker.AccessRead
		if g.GetAccess() == pb.Access_ACCESS_WRITE {
			a = broker.AccessWrite
		}
		lr.Repos = append(lr.Repos, broker.RepoGrant{Repo: ref, Access: a})
	}
	lr.NoPublic = req.GetNoPublic()
	if lr.Purpose == broker.PurposeProxy && s.info.Proxy == nil {
		return nil, status.Error(codes.Unimplemented, "this daemon runs no proxy")
	}
	g, err := s.b.Lease(ctx, lr)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.LeaseResponse{
		LeaseId:   g.Lease.ID,
		Profile:   g.Lease.Profile,
		ExpiresAt: timestamppb.New(g.Lease.ExpiresAt),
		Token:     g.Token.Reveal(),
		User:      g.Lease.User,
		Endpoint:  g.Lease.Endpoint,
		Follow:    string(g.Lease.Follow),

		ShortenedToToken: g.Lease.ShortenedToToken,
	}
	if !g.Lease.TokenExpiresAt.IsZero() && lr.Purpose != broker.PurposeProxy {
		resp.TokenExpiresAt = timestamppb.New(g.Lease.TokenExpiresAt)
	}
	if lr.Purpose == broker.PurposeProxy {
		// The real token stays here: the caller gets a lease token that
		// works only through the proxy, and only while the lease lives.
		tok, url, err := s.info.Proxy.Issue(g.Lease, g.Token)
		if err != nil {
			s.b.Revoke(g.Lease.ID, s.caller(ctx))
			return nil, status.Error(codes.Internal, "start the hub proxy: "+err.Error())
		}
		resp.Token, resp.ProxyEndpoint = tok, url
	}
	return resp, nil
}

// maxRepos bounds the repos of one lease request (the broker has the same).
const maxRepos = 64

func (s *Server) ListLeases(ctx context.Context, req *pb.ListLeasesRequest) (*pb.ListLeasesResponse, error) {
	out := &pb.ListLeasesResponse{}
	book, _ := s.info.Proxy.(LeaseTokenBook)
	for _, l := range s.b.Leases() {
		// exec replaces hfbroker with the command after the lease was
		// granted: show what the process runs now.
		if l.PID > 0 {
			if exe := s.procs.Exe(l.PID); exe != "" {
				l.Exe = exe
			}
		}
		pl := leaseProto(l)
		if book != nil && l.Purpose == broker.PurposeProxy {
			pl.TokenFingerprint = book.TokenFingerprint(l.ID)
		}
		out.Leases = append(out.Leases, pl)
	}
	if req.GetIncludeEnded() && book != nil {
		for _, e := range book.EndedTokens() {
			out.Ended = append(out.Ended, &pb.EndedLeaseToken{Fingerprint: e.Fingerprint, LeaseId: e.LeaseID,
				Label: e.Label, EndedAt: timestamppb.New(e.EndedAt)})
		}
	}
	return out, nil
}

// LeaseTokenBook is what the proxy remembers of the lease tokens it issued:
// their fingerprints, never the tokens, so that scan can tell a lease token
// (live, or ended and worthless) from a real one.
type LeaseTokenBook interface {
	// TokenFingerprint is the fingerprint of a live lease's token; "" if none.
	TokenFingerprint(leaseID string) string
	// EndedTokens are the lease tokens of recently ended leases.
	EndedTokens() []EndedLeaseToken
}

// EndedLeaseToken is an ended lease's token, by fingerprint.
type EndedLeaseToken struct {
	Fingerprint, LeaseID, Label string
	EndedAt                     time.Time
}

func (s *Server) RevokeLease(ctx context.Context, req *pb.RevokeLeaseRequest) (*pb.RevokeLeaseResponse, error) {
	if err := s.b.Revoke(req.GetId(), s.caller(ctx)); err != nil {
		return nil, toStatus(err)
	}
	return &pb.RevokeLeaseResponse{}, nil
}

func (s *Server) RenewLease(ctx context.Context, req *pb.RenewLeaseRequest) (*pb.RenewLeaseResponse, error) {
	var ttl time.Duration
	if d := req.GetTtl(); d != nil {
		if err := d.CheckValid(); err != nil {
			return nil, status.Error(codes.InvalidArgument, "invalid ttl")
		}
		ttl = d.AsDuration()
	}
	l, err := s.b.Renew(req.GetId(), ttl, s.caller(ctx))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.RenewLeaseResponse{Lease: leaseProto(l)}, nil
}

func (s *Server) Status(ctx context.Context, _ *pb.StatusRequest) (*pb.StatusResponse, error) {
	ps, def := s.b.Profiles()
	locked := s.b.Locked()
	vaultExists, vaultPath, _ := s.b.Vault()
	resp := &pb.StatusResponse{
		VaultExists:    vaultExists,
		VaultPath:      vaultPath,
		Pid:            int32(os.Getpid()),
		Socket:         s.info.Socket,
		Backend:        s.b.StoreKind(),
		BackendReason:  s.info.BackendReason,
		ProfileCount:   int32(len(ps)),
		StartedAt:      timestamppb.New(s.info.StartedAt),
		Version:        s.info.Version,
		Locked:         locked,
		LeaseCount:     int32(s.b.LeaseCount()),
		DefaultProfile: def,
		Build:          s.info.Build,
	}
	if s.info.Config != nil {
		c := s.info.Config()
		resp.ConfigPath, resp.ConfigHash = c.Path, c.Hash
		resp.ConfigLoadedAt = timestamppb.New(c.LoadedAt)
		if c.Err != nil {
			resp.ConfigError = c.Err.Error()
		}
	}
	return resp, nil
}

// toStatus maps broker errors to gRPC codes, with an ErrorDetail carrying the
// hint and per-profile reasons. Every message is the broker's own text,
// which never includes a token.
func toStatus(err error) error {
	// Every error leaves the daemon here. An error may quote what its
	// caller sent, and a caller may send a token where a name goes
	// ('hfbroker token --profile hf_…'): no token leaves in error text.
	var be *broker.Error
	if !errors.As(err, &be) {
		return status.Error(codes.Internal, audit.RedactTokens("internal error: "+err.Error()))
	}
	code, kind := codes.Internal, pb.ErrorDetail_KIND_UNSPECIFIED
	switch be.Kind {
	case broker.KindInvalid:
		code, kind = codes.InvalidArgument, pb.ErrorDetail_KIND_INVALID
	case broker.KindNotFound:
		code, kind = codes.NotFound, pb.ErrorDetail_KIND_NOT_FOUND
	case broker.KindNoTokenFits:
		code, kind = codes.PermissionDenied, pb.ErrorDetail_KIND_NO_TOKEN_FITS
	case broker.KindAccessDenied:
		code, kind = codes.PermissionDenied, pb.ErrorDetail_KIND_ACCESS_DENIED
	case broker.KindLocked:
		code, kind = codes.FailedPrecondition, pb.ErrorDetail_KIND_LOCKED
	case broker.KindKeychain:
		// Not Unavailable: the CLI reads that as "daemon not running".
		code, kind = codes.FailedPrecondition, pb.ErrorDetail_KIND_KEYCHAIN
	case broker.KindHub:
		code, kind = codes.FailedPrecondition, pb.ErrorDetail_KIND_HUB
	}
	st := status.New(code, audit.RedactTokens(be.Error()))
	d := &pb.ErrorDetail{Kind: kind, Hint: audit.RedactTokens(be.Hint)}
	for _, r := range be.Reasons {
		d.Reasons = append(d.Reasons, &pb.ProfileReason{Profile: audit.RedactTokens(r.Profile), Reason: audit.RedactTokens(r.Reason)})
	}
	if withD, derr := st.WithDetails(d); derr == nil {
		st = withD
	}
	return st.Err()
}

// ReportGitCredential records git's store or erase. A client that cannot
// hash (issue 16: hfbroker's front links no crypto) sends git's password and
// the fingerprint is taken here; the password goes no further than this
// function: not to the broker, the audit log, a reply or an error.
func (s *Server) ReportGitCredential(ctx context.Context, req *pb.ReportGitCredentialRequest) (*pb.ReportGitCredentialResponse, error) {
	fp, err := gitReportFingerprint(req)
	if err != nil {
		return nil, toStatus(err)
	}
	r := broker.GitReport{
		Erase:       req.GetOperation() == pb.GitOperation_GIT_OPERATION_ERASE,
		Fingerprint: fp,
		Host:        req.GetHost(),
		Caller:      s.caller(ctx),
	}
	if rp := req.GetRepo(); rp != nil && rp.GetId() != "" {
		if ref, err := hubapi.ParseRepo(rp.GetId(), repoTypeFromProto(rp.GetType())); err == nil {
			r.Repo = ref.String()
		}
	}
	name, err := s.b.ReportGit(r)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.ReportGitCredentialResponse{Known: name != "", Profile: name}, nil
}

// gitReportFingerprint is the fingerprint a git report names: the password's
// when it carries one, else the one it sent. When it carries both they must
// agree; the error says so without either value.
func gitReportFingerprint(req *pb.ReportGitCredentialRequest) (string, error) {
	fp := req.GetFingerprint()
	pw := req.GetPassword()
	if pw == "" {
		return fp, nil
	}
	own := secret.Fingerprint(pw)
	if fp != "" && fp != own {
		return "", &broker.Error{Kind: broker.KindInvalid, Msg: "the git credential report's fingerprint does not match its password"}
	}
	return own, nil
}

func (s *Server) Check(ctx context.Context, req *pb.CheckRequest) (*pb.CheckResponse, error) {
	r := req.GetRepo()
	if r == nil || r.GetId() == "" {
		return nil, status.Error(codes.InvalidArgument, "a repo is required")
	}
	ref, err := hubapi.ParseRepo(r.GetId(), repoTypeFromProto(r.GetType()))
	if err != nil {
		return nil, toStatus(&broker.Error{Kind: broker.KindInvalid, Msg: err.Error(), Hint: "name the repo as NAMESPACE/NAME, e.g. acme/llm or datasets/acme/data"})
	}
	want := broker.AccessRead
	if req.GetAccess() == pb.Access_ACCESS_WRITE {
		want = broker.AccessWrite
	}
	checks, chosen, err := s.b.CheckRepo(ctx, ref, want, req.GetEndpoint(), req.GetAskHub())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.CheckResponse{Chosen: chosen.Profile, Route: chosen.Route, Refusal: chosen.Refusal}
	for _, c := range checks {
		out.Checks = append(out.Checks, &pb.ProfileCheck{
			Profile: c.Profile, Allowed: c.Allowed, Code: string(c.Code), Reason: c.Reason, Action: c.Action, Assumed: c.Assumed,
			HubChecked: c.HubChecked, HubAllowed: c.HubAllowed, HubStatus: int32(c.HubStatus), HubCode: c.HubCode, HubMessage: c.HubMessage,
			Rank: int32(c.Rank),
		})
	}
	return out, nil
}

func (s *Server) Lock(ctx context.Context, _ *pb.LockRequest) (*pb.LockResponse, error) {
	n := s.b.Lock(s.caller(ctx))
	return &pb.LockResponse{EndedLeases: int32(n)}, nil
}

func (s *Server) Unlock(ctx context.Context, req *pb.UnlockRequest) (*pb.UnlockResponse, error) {
	created, err := s.b.Unlock(ctx, req.GetPassphrase(), req.GetCreate(), s.caller(ctx))
	if err != nil {
		return nil, toStatus(err)
	}
	_, path, _ := s.b.Vault()
	return &pb.UnlockResponse{Created: created, VaultPath: path}, nil
}

func (s *Server) ChangePassphrase(ctx context.Context, req *pb.ChangePassphraseRequest) (*pb.ChangePassphraseResponse, error) {
	if err := s.b.ChangePassphrase(ctx, req.GetOldPassphrase(), req.GetNewPassphrase()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.ChangePassphraseResponse{}, nil
}

func (s *Server) Migrate(ctx context.Context, req *pb.MigrateRequest) (*pb.MigrateResponse, error) {
	to := req.GetTo()
	if to != "file" && to != "keychain" {
		return nil, toStatus(&broker.Error{Kind: broker.KindInvalid, Msg: fmt.Sprintf("cannot migrate to %q", to), Hint: "use --to file or --to keychain"})
	}
	if s.info.OpenStore == nil {
		return nil, status.Error(codes.Unimplemented, "this daemon cannot migrate")
	}
	if s.b.StoreKind() == to {
		return nil, toStatus(&broker.Error{Kind: broker.KindInvalid, Msg: fmt.Sprintf("tokens are already in the %s backend", to)})
	}
	dst, err := s.info.OpenStore(ctx, to, req.GetPassphrase())
	if err != nil {
		return nil, toStatus(err)
	}
	var commit func() error
	if s.info.SetBackend != nil {
		commit = func() error { return s.info.SetBackend(to) }
	}
	n, err := s.b.Migrate(ctx, dst, s.caller(ctx), commit)
	if err != nil {
		if c, ok := dst.(interface{ Close() error }); ok {
			c.Close()
		}
		return nil, toStatus(err)
	}
	return &pb.MigrateResponse{Moved: int32(n), Backend: to}, nil
}

// optionalTime is a Timestamp as a time, zero when unset.
func optionalTime(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

// StartWebLogin begins a browser login (issue 14).
func (s *Server) StartWebLogin(ctx context.Context, req *pb.StartWebLoginRequest) (*pb.StartWebLoginResponse, error) {
	endpoint, err := hubapi.NormalizeEndpoint(req.GetEndpoint())
	if err != nil {
		return nil, toStatus(&broker.Error{Kind: broker.KindInvalid, Msg: err.Error(), Hint: "set HF_ENDPOINT to an https URL such as https://huggingface.co"})
	}
	if len(req.GetClientId()) > 256 {
		return nil, toStatus(&broker.Error{Kind: broker.KindInvalid, Msg: "the OAuth client id is longer than 256 bytes"})
	}
	w, err := s.b.StartWebLogin(ctx, endpoint, req.GetClientId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.StartWebLoginResponse{LoginId: w.ID, UserCode: w.UserCode, VerificationUri: w.VerificationURI,
		VerificationUriComplete: w.VerificationURIComplete, Interval: int32(w.Interval / time.Second),
		ExpiresIn: int32(w.ExpiresIn / time.Second)}, nil
}

// PollWebLogin asks once whether a browser login was approved (issue 14).
func (s *Server) PollWebLogin(ctx context.Context, req *pb.PollWebLoginRequest) (*pb.PollWebLoginResponse, error) {
	st, p, replaced, err := s.b.PollWebLogin(ctx, req.GetLoginId(), req.GetName(), req.GetMakeDefault(), s.caller(ctx))
	if err != nil {
		return nil, toStatus(err)
	}
	switch st {
	case broker.WebLoginSlowDown:
		return &pb.PollWebLoginResponse{State: pb.PollWebLoginResponse_STATE_SLOW_DOWN}, nil
	case broker.WebLoginDone:
		_, def := s.b.Profiles()
		return &pb.PollWebLoginResponse{State: pb.PollWebLoginResponse_STATE_DONE,
			Stored: &pb.AddTokenResponse{Profile: profileProto(p, def), Replaced: replaced}}, nil
	}
	return &pb.PollWebLoginResponse{State: pb.PollWebLoginResponse_STATE_PENDING}, nil
}
