package daemon

// The restricted socket (issue 15): remote.sock, beside the main socket,
// served by the same daemon behind the same uid guard, for remote machines
// (forwarded over ssh by `hfbroker ssh`) and containers (bind-mounted). It
// answers only lease requests and the read-only calls a remote CLI needs
// about its own leases; everything else is refused with PermissionDenied
// and one line saying why.
//
// Who is on the other end: ssh -R connects to remote.sock from the local
// ssh process, so the kernel's peer pid is that ssh process. `hfbroker ssh`
// registers a forward on the main socket (RegisterForward) with its own pid,
// then execs ssh in that same process: the pid and its start time identify
// the forward, and a pidfd on it tells the daemon the moment the session
// ends, which ends every lease of the forward. A peer that is no registered
// forward (a container with the socket mounted) is a direct connection: it
// gets read-only proxy leases and nothing more.

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path"
	"path/filepath"
	"strconv"
	"sync"
	"time"
	"unicode"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hfbroker/hfbroker/internal/broker"
	"github.com/hfbroker/hfbroker/internal/hub"
	"github.com/hfbroker/hfbroker/internal/lane/laneserver"
	"github.com/hfbroker/hfbroker/internal/osproc"
	"github.com/hfbroker/hfbroker/internal/peercred"
	"github.com/hfbroker/hfbroker/internal/peercred/grpccred"
	"github.com/hfbroker/hfbroker/internal/server"
	"github.com/hfbroker/hfbroker/internal/socket"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
	"github.com/hfbroker/hfbroker/proto/hfbroker/v1/hfbrokerv1grpc"
)

// RestrictedSocketName is the restricted socket's file name, beside the
// main socket.
const RestrictedSocketName = socket.RestrictedName

// forwardPolicy is what one way in through the restricted socket allows.
type forwardPolicy struct {
	fwd             broker.Forward
	allowWrite      bool
	allowEnv        bool
	repos           []string
	remoteProxyPort int
	startTicks      uint64 // the ssh process's start time, against pid reuse
	stop            func() // ends the pid watch
}

func (p *forwardPolicy) where() string {
	if p.fwd.Host == "" {
		return "this socket is hfbroker's restricted socket (a container or other direct connection)"
	}
	return "this socket is forwarded from " + p.fwd.Host
}

func (p *forwardPolicy) proto() *pb.Forward {
	return &pb.Forward{Id: p.fwd.ID, Host: p.fwd.Host, SshPid: int32(p.fwd.PID), StartedAt: timestamppb.New(p.fwd.Started),
		AllowWrite: p.allowWrite, AllowEnv: p.allowEnv, Repos: p.repos, RemoteProxyPort: int32(p.remoteProxyPort)}
}

// refuse is the PermissionDenied a forward's caller gets, with a hint.
func (p *forwardPolicy) refuse(hint, format string, args ...any) error {
	st := status.New(codes.PermissionDenied, p.where()+" and "+fmt.Sprintf(format, args...))
	if d, err := st.WithDetails(&pb.ErrorDetail{Kind: pb.ErrorDetail_KIND_ACCESS_DENIED, Hint: hint}); err == nil {
		st = d
	}
	return st.Err()
}

// forwards is the daemon's table of registered ssh forwards.
type forwards struct {
	b     *broker.Broker
	px    *proxyManager
	procs broker.Procs
	log   *slog.Logger
	path  string // the restricted socket

	mu    sync.Mutex
	byPID map[int]*forwardPolicy
	wg    sync.WaitGroup
	// onClosed, if set, is called after a forward's leases ended (tests).
	onClosed func(id string)
}

func newForwards(b *broker.Broker, px *proxyManager, restricted string, log *slog.Logger) *forwards {
	return &forwards{b: b, px: px, procs: osproc.Table{}, log: log, path: restricted, byPID: map[int]*forwardPolicy{}}
}

// maxHostLen bounds a forward's host name, which goes to the audit log.
const maxHostLen = 255

// register records the caller (about to become ssh) as a forward and
// watches it: when it exits, every lease of the forward ends.
func (fw *forwards) register(caller broker.Caller, req *pb.RegisterForwardRequest) (*forwardPolicy, int, error) {
	if fw.path == "" {
		return nil, 0, status.Error(codes.FailedPrecondition, "this daemon serves no restricted socket")
	}
	host := req.GetHost()
	if host == "" || len(host) > maxHostLen || containsControl(host) {
		return nil, 0, status.Error(codes.InvalidArgument, "a forward needs a host name (at most 255 printable characters)")
	}
	for _, r := range req.GetRepos() {
		if _, err := path.Match(r, ""); err != nil || r == "" || len(r) > 200 {
			return nil, 0, status.Errorf(codes.InvalidArgument, "bad repo pattern %q (use NAMESPACE/NAME with * wildcards, e.g. acme/*)", r)
		}
	}
	if p := req.GetRemoteProxyPort(); p < 0 || p > 65535 {
		return nil, 0, status.Error(codes.InvalidArgument, "remote proxy port out of range")
	}
	if caller.PID <= 0 {
		return nil, 0, status.Error(codes.InvalidArgument, "a forward needs a caller the kernel can identify")
	}
	ticks, err := fw.procs.StartTime(caller.PID)
	if err != nil {
		return nil, 0, status.Errorf(codes.InvalidArgument, "process %d has already exited", caller.PID)
	}
	proxyURL, err := fw.px.start(0)
	if err != nil {
		return nil, 0, status.Error(codes.Internal, "start the hub proxy: "+err.Error())
	}
	u, err := url.Parse(proxyURL)
	if err != nil {
		return nil, 0, status.Error(codes.Internal, "proxy url: "+err.Error())
	}
	port, _ := strconv.Atoi(u.Port())
	p := &forwardPolicy{
		fwd: broker.Forward{ID: fmt.Sprintf("fwd-%d-%d", caller.PID, ticks), Host: host, PID: caller.PID,
			Started: time.Now().UTC().Round(time.Second)},
		allowWrite: req.GetAllowWrite(), allowEnv: req.GetAllowEnv(), repos: req.GetRepos(),
		remoteProxyPort: int(req.GetRemoteProxyPort()), startTicks: ticks,
	}
	stop, err := fw.watch(caller.PID, func() { fw.closed(p) })
	if err != nil {
		return nil, 0, status.Errorf(codes.Internal, "watch process %d: %v", caller.PID, err)
	}
	p.stop = stop
	fw.mu.Lock()
	if old := fw.byPID[caller.PID]; old != nil {
		old.stop()
	}
	fw.byPID[caller.PID] = p
	fw.mu.Unlock()
	fw.log.Info("ssh forward registered", "forward", p.fwd.String(), "allow_write", p.allowWrite, "allow_env", p.allowEnv, "repos", p.repos)
	return p, port, nil
}

// watch calls exited once pid has exited, unless stop comes first
// (osproc.Exit: a pidfd on Linux, polling elsewhere).
func (fw *forwards) watch(pid int, exited func()) (stop func(), err error) {
	e, err := osproc.WatchExit(pid)
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	var once sync.Once
	stop = func() { once.Do(func() { close(done) }) }
	fw.wg.Add(1)
	go func() {
		defer fw.wg.Done()
		if e.Wait(done) {
			exited()
		}
		stop()
	}()
	return stop, nil
}

// closed ends a forward whose ssh process exited, with all its leases.
func (fw *forwards) closed(p *forwardPolicy) {
	fw.mu.Lock()
	if fw.byPID[p.fwd.PID] == p {
		delete(fw.byPID, p.fwd.PID)
	}
	fw.mu.Unlock()
	n := fw.b.EndForward(p.fwd.ID)
	fw.log.Info("ssh forward closed", "forward", p.fwd.String(), "ended_leases", n)
	if fw.onClosed != nil {
		fw.onClosed(p.fwd.ID)
	}
}

// policyFor says what a peer of the restricted socket may do.
func (fw *forwards) policyFor(c peercred.Creds) *forwardPolicy {
	pid := int(c.PID)
	fw.mu.Lock()
	p := fw.byPID[pid]
	fw.mu.Unlock()
	if p != nil {
		if t, err := fw.procs.StartTime(pid); err == nil && t == p.startTicks {
			return p
		}
	}
	var ticks uint64
	if pid > 0 {
		ticks, _ = fw.procs.StartTime(pid)
	}
	return &forwardPolicy{fwd: broker.Forward{ID: fmt.Sprintf("direct-%d-%d", pid, ticks), PID: pid,
		Started: time.Now().UTC().Round(time.Second)}}
}

func (fw *forwards) close() {
	fw.mu.Lock()
	for _, p := range fw.byPID {
		p.stop()
	}
	fw.mu.Unlock()
	fw.wg.Wait()
}

// restrictedMethods are the calls the restricted socket answers.
var restrictedMethods = map[string]bool{
	"Lease": true, "Status": true, "ListLeases": true, "RevokeLease": true, "RenewLease": true,
	// git's store/erase report carries a fingerprint, or the password the
	// remote's git already holds, which the daemon only fingerprints.
	"ReportGitCredential": true,
}

// refusedWhat names each refused call as a person knows it.
var refusedWhat = map[string]string{
	"AddToken": "login or import", "RemoveToken": "logout", "ListProfiles": "listing profiles",
	"SetDefault": "switch", "Whoami": "whoami", "Lock": "lock", "Unlock": "unlock",
	"ChangePassphrase": "changing the vault passphrase", "Migrate": "migrate", "Check": "doctor",
	"RegisterForward": "forwarding it again",
}

type policyKey struct{}

// unary is the restricted socket's gate, right behind the uid guard.
func (fw *forwards) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	c, _ := grpccred.FromContext(ctx)
	p := fw.policyFor(c)
	m := path.Base(info.FullMethod)
	if !restrictedMethods[m] {
		what := refusedWhat[m]
		if what == "" {
			what = m
		}
		// The forward's host is the remote the caller is on: the
		// tokens, and the daemon, are on the machine that ran ssh.
		hint := "run it on the machine whose hfbrokerd serves it"
		if p.fwd.Host != "" {
			hint = "run it where you ran 'hfbroker ssh " + p.fwd.Host + "', which holds the tokens"
		}
		return nil, p.refuse(hint, "allows leases only, not %s", what)
	}
	ctx = context.WithValue(ctx, policyKey{}, p)
	ctx = server.WithForward(ctx, p.fwd)
	return h(ctx, req)
}

func policyFrom(ctx context.Context) *forwardPolicy {
	p, _ := ctx.Value(policyKey{}).(*forwardPolicy)
	return p
}

// forwardServer is the BrokerService both sockets serve: the server's own
// methods, RegisterForward, and on the restricted socket each forward's
// rules applied around Lease, Status and the lease calls.
type forwardServer struct {
	*server.Server
	fw *forwards
	b  *broker.Broker
}

func (s *forwardServer) RegisterForward(ctx context.Context, req *pb.RegisterForwardRequest) (*pb.RegisterForwardResponse, error) {
	c, ok := grpccred.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.PermissionDenied, "unknown peer")
	}
	p, port, err := s.fw.register(broker.Caller{UID: int(c.UID), PID: int(c.PID)}, req)
	if err != nil {
		return nil, err
	}
	return &pb.RegisterForwardResponse{Forward: p.proto(), ProxyPort: int32(port), RestrictedSocket: s.fw.path}, nil
}

func (s *forwardServer) Lease(ctx context.Context, req *pb.LeaseRequest) (*pb.LeaseResponse, error) {
	p := policyFrom(ctx)
	if p == nil {
		return s.Server.Lease(ctx, req)
	}
	r, err := p.apply(req)
	if err != nil {
		return nil, err
	}
	if req.GetPurpose() == pb.Purpose_PURPOSE_GIT && r.GetPurpose() == pb.Purpose_PURPOSE_PROXY {
		r.Access = s.gitProxyAccess(ctx, p, r)
		if r.GetTtl() == nil {
			// git asks once per operation: its leases live as long as
			// git leases do, not as long as a job's.
			r.Ttl = durationpb.New(s.b.GitTTL())
		}
	}
	resp, err := s.Server.Lease(ctx, r)
	if err != nil {
		return nil, err
	}
	if err := s.readOnlyRealToken(ctx, p, r, resp); err != nil {
		s.b.Revoke(resp.GetLeaseId(), broker.Caller{PID: p.fwd.PID})
		return nil, err
	}
	if resp.GetProxyEndpoint() != "" && p.remoteProxyPort > 0 {
		// The remote reaches the proxy through ssh -R on its own loopback.
		resp.ProxyEndpoint = "http://127.0.0.1:" + strconv.Itoa(p.remoteProxyPort)
	}
	return resp, nil
}

// gitProxyAccess is the access of a git lease through the proxy. git does
// not tell its helper whether it will fetch or push, so the lease can push
// when both the forward (--allow-write) and a token for the repo can; else
// it reads, and the proxy refuses a push with the reason, in git's output.
func (s *forwardServer) gitProxyAccess(ctx context.Context, p *forwardPolicy, r *pb.LeaseRequest) pb.Access {
	if !p.allowWrite || r.GetAccess() == pb.Access_ACCESS_READ {
		return pb.Access_ACCESS_READ
	}
	if r.GetAccess() == pb.Access_ACCESS_WRITE {
		return pb.Access_ACCESS_WRITE
	}
	ref, err := hub.ParseRepo(r.GetRepo().GetId(), repoTypeOf(r.GetRepo()))
	if err != nil {
		return pb.Access_ACCESS_READ // the lease request fails on it with the reason
	}
	if _, choice, err := s.b.CheckRepo(ctx, ref, broker.AccessWrite, r.GetEndpoint(), false); err == nil && choice.Profile != "" {
		return pb.Access_ACCESS_WRITE
	}
	return pb.Access_ACCESS_READ
}

// readOnlyRealToken keeps a forward without --allow-write from getting a
// real token that can write: the proxy enforces a read lease, but a real
// token (--allow-env) can do whatever its token can. So such a lease is
// granted only for a named repo its token cannot write to.
func (s *forwardServer) readOnlyRealToken(ctx context.Context, p *forwardPolicy, r *pb.LeaseRequest, resp *pb.LeaseResponse) error {
	if p.allowWrite || r.GetPurpose() == pb.Purpose_PURPOSE_PROXY {
		return nil
	}
	hint := p.reconnect("--allow-write --allow-env")
	repo := r.GetRepo()
	if repo.GetId() == "" {
		return p.refuse(hint, "allows read leases only: a real token needs a repo named, to check that it cannot write")
	}
	ref, err := hub.ParseRepo(repo.GetId(), repoTypeOf(repo))
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	checks, _, err := s.b.CheckRepo(ctx, ref, broker.AccessWrite, "", false)
	if err != nil {
		return p.refuse(hint, "allows read leases only, and whether the token can write %s is unknown", ref)
	}
	for _, c := range checks {
		if c.Profile == resp.GetProfile() && c.Allowed {
			return p.refuse(hint, "allows read leases only, and the token chosen for %s (profile %s) can write to it", ref, c.Profile)
		}
	}
	return nil
}

func repoTypeOf(r *pb.Repo) hub.RepoType {
	switch r.GetType() {
	case pb.RepoType_REPO_TYPE_DATASET:
		return hub.RepoDataset
	case pb.RepoType_REPO_TYPE_SPACE:
		return hub.RepoSpace
	}
	return hub.RepoModel
}

// apply checks a lease request against the forward's rules and returns the
// request to grant: a plain exec becomes a proxy lease unless the forward
// allows the real token.
func (p *forwardPolicy) apply(req *pb.LeaseRequest) (*pb.LeaseRequest, error) {
	r := cloneLeaseRequest(req)
	// Remote pids mean nothing here: the lease lives with the ssh process
	// (the caller), and ends with the forward.
	r.Pid = 0
	// The remote's HF_ENDPOINT (or its default) says nothing about where
	// this machine's profiles live: the proxy knows each lease's endpoint.
	r.Endpoint = ""
	switch r.GetPurpose() {
	case pb.Purpose_PURPOSE_PROXY:
	case pb.Purpose_PURPOSE_EXEC:
		if !p.allowEnv {
			r.Purpose = pb.Purpose_PURPOSE_PROXY
		}
	case pb.Purpose_PURPOSE_GIT:
		if !p.allowEnv {
			// git goes through the proxy: hfbroker ssh points the
			// session's git at the forwarded port, and the git helper
			// answers a lease token. The lease is for one repo, the one
			// git names (credential.useHttpPath).
			if r.GetRepo().GetId() == "" {
				return nil, p.refuse("let git name the repo: git config credential.useHttpPath true (hfbroker setup-git sets it)",
					"gives git leases for one repo through the proxy, and git named none")
			}
			r.Purpose = pb.Purpose_PURPOSE_PROXY
			if r.GetLabel() == "" {
				r.Label = "git"
			}
		}
	default:
		if !p.allowEnv {
			return nil, p.refuse(p.reconnect("--allow-env"), "allows proxy leases only, never the real token")
		}
	}
	switch r.GetAccess() {
	case pb.Access_ACCESS_WRITE:
		if !p.allowWrite {
			return nil, p.refuse(p.reconnect("--allow-write"), "allows read leases only")
		}
	case pb.Access_ACCESS_UNSPECIFIED:
		if !p.allowWrite {
			r.Access = pb.Access_ACCESS_READ
		}
	}
	// A lease for several repos (exec --repo a --write-repo b) is checked
	// repo by repo, as one for a single repo is.
	for _, g := range r.GetRepos() {
		if g.GetAccess() == pb.Access_ACCESS_WRITE && !p.allowWrite {
			return nil, p.refuse(p.reconnect("--allow-write"), "allows read leases only, and this one writes %s", g.GetRepo().GetId())
		}
	}
	if len(p.repos) > 0 {
		repo := r.GetRepo()
		if repo.GetId() == "" && len(r.GetRepos()) == 0 {
			return nil, p.refuse("name one with --repo", "allows leases for %v only, and this one names no repo", p.repos)
		}
		if repo.GetId() != "" && !p.repoAllowed(repo) {
			return nil, p.refuse(p.reconnect("--repo "+repo.GetId()), "does not allow %s (it allows %v)", repo.GetId(), p.repos)
		}
		for _, g := range r.GetRepos() {
			if !p.repoAllowed(g.GetRepo()) {
				id := g.GetRepo().GetId()
				return nil, p.refuse(p.reconnect("--repo "+id), "does not allow %s (it allows %v)", id, p.repos)
			}
		}
	}
	return r, nil
}

func (p *forwardPolicy) reconnect(flag string) string {
	if p.fwd.Host == "" {
		return "connect with 'hfbroker ssh " + flag + "' instead of mounting the socket"
	}
	return "reconnect with 'hfbroker ssh " + flag + " " + p.fwd.Host + "'"
}

// repoAllowed matches the repo against the forward's patterns, in both its
// short form (acme/llm) and its typed form (datasets/acme/data).
func (p *forwardPolicy) repoAllowed(r *pb.Repo) bool {
	// A pattern (acme/*) is allowed by a forward pattern it matches as
	// text: acme/* allows acme/*, acme/l* does not.
	ref, err := hub.ParseRepoPattern(r.GetId(), repoTypeOf(r))
	if err != nil {
		return false
	}
	for _, pat := range p.repos {
		if ok, _ := path.Match(pat, ref.ID()); ok && ref.Type == hub.RepoModel {
			return true
		}
		if ok, _ := path.Match(pat, ref.String()); ok {
			return true
		}
	}
	return false
}

func (s *forwardServer) Status(ctx context.Context, req *pb.StatusRequest) (*pb.StatusResponse, error) {
	p := policyFrom(ctx)
	full, err := s.Server.Status(ctx, req)
	if err != nil || p == nil {
		return full, err
	}
	// Only what a remote CLI needs: nothing of the profiles or the store.
	n := 0
	for _, l := range s.b.Leases() {
		if l.Forward.ID == p.fwd.ID {
			n++
		}
	}
	return &pb.StatusResponse{Pid: full.GetPid(), Socket: s.fw.path, Version: full.GetVersion(), Locked: full.GetLocked(),
		StartedAt: full.GetStartedAt(), LeaseCount: int32(n), Forward: p.proto()}, nil
}

func (s *forwardServer) ListLeases(ctx context.Context, req *pb.ListLeasesRequest) (*pb.ListLeasesResponse, error) {
	resp, err := s.Server.ListLeases(ctx, req)
	if err != nil {
		return nil, err
	}
	byID := map[string]broker.Forward{}
	for _, l := range s.b.Leases() {
		if l.Forward.ID != "" {
			byID[l.ID] = l.Forward
		}
	}
	p := policyFrom(ctx)
	out := resp.Leases[:0]
	for _, l := range resp.Leases {
		f, ok := byID[l.GetId()]
		if p != nil && (!ok || f.ID != p.fwd.ID) {
			continue
		}
		if ok {
			l.Forward = &pb.Forward{Id: f.ID, Host: f.Host, SshPid: int32(f.PID), StartedAt: timestamppb.New(f.Started)}
		}
		out = append(out, l)
	}
	resp.Leases = out
	return resp, nil
}

// own refuses a lease id that is not the forward's own, as if unknown.
func (s *forwardServer) own(ctx context.Context, id string) error {
	p := policyFrom(ctx)
	if p == nil {
		return nil
	}
	if l, ok := s.b.LeaseValid(id); !ok || l.Forward.ID != p.fwd.ID {
		return status.Errorf(codes.NotFound, "no live lease %q of this forward", id)
	}
	return nil
}

func (s *forwardServer) RevokeLease(ctx context.Context, req *pb.RevokeLeaseRequest) (*pb.RevokeLeaseResponse, error) {
	if err := s.own(ctx, req.GetId()); err != nil {
		return nil, err
	}
	return s.Server.RevokeLease(ctx, req)
}

func (s *forwardServer) RenewLease(ctx context.Context, req *pb.RenewLeaseRequest) (*pb.RenewLeaseResponse, error) {
	if err := s.own(ctx, req.GetId()); err != nil {
		return nil, err
	}
	return s.Server.RenewLease(ctx, req)
}

func cloneLeaseRequest(r *pb.LeaseRequest) *pb.LeaseRequest {
	return &pb.LeaseRequest{Profile: r.GetProfile(), Repo: r.GetRepo(), Access: r.GetAccess(), Purpose: r.GetPurpose(),
		Ttl: r.GetTtl(), Endpoint: r.GetEndpoint(), Pid: r.GetPid(), UntilExit: r.GetUntilExit(), Label: r.GetLabel(),
		Repos: r.GetRepos(), NoPublic: r.GetNoPublic()}
}

func containsControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// restrictedPath is where the restricted socket goes: opts.RemoteSocket, or
// beside the main socket; "" for none (a listener handed in by a test).
func restrictedPath(opts Options, mainPath string) string {
	if opts.RemoteSocket != "" {
		return opts.RemoteSocket
	}
	if opts.Listener != nil || mainPath == "" || opts.NoRemoteSocket {
		return ""
	}
	return filepath.Join(filepath.Dir(mainPath), RestrictedSocketName)
}

// serveRestricted listens on the restricted socket and serves impl there
// behind intercept; stop ends it. A socket that cannot be bound is logged,
// not fatal: the main socket serves on, and hfbroker ssh is told there is
// no restricted socket to forward.
func serveRestricted(fw *forwards, impl hfbrokerv1grpc.BrokerServiceServer, intercept grpc.UnaryServerInterceptor, guard grpccred.Guard, limits connLimits, log *slog.Logger) (stop func(time.Duration)) {
	p := fw.path
	l, err := socket.Listen(p)
	if err != nil {
		log.Warn("restricted socket not served", "socket", p, "err", err)
		fw.path = ""
		return func(time.Duration) {}
	}
	srv := grpc.NewServer(
		grpc.Creds(guard.Creds),
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxSendMsgSize(MaxMessageSize),
		grpc.UnaryInterceptor(intercept),
		grpc.ChainStreamInterceptor(guard.Stream),
		grpc.UnknownServiceHandler(guard.Unknown),
	)
	hfbrokerv1grpc.RegisterBrokerServiceServer(srv, impl)
	ls := laneserver.New(&hfbrokerv1grpc.BrokerService_ServiceDesc, impl, intercept, guard, limits.idle, log)
	split := newSplitter(net.Listener(l), ls, limits, log)
	go split.run()
	served := make(chan struct{})
	go func() { defer close(served); srv.Serve(split.grpcLis) }()
	log.Info("restricted socket serving", "socket", p)
	return func(timeout time.Duration) {
		ls.Stop(timeout)
		srv.Stop()
		<-served
		l.Close()
	}
}
