// Package daemon wires hfbrokerd together: config, token store, Hub client,
// broker, audit log, the gRPC server on the unix socket, and its lifecycle.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/hfbroker/hfbroker/internal/audit"
	"github.com/hfbroker/hfbroker/internal/broker"
	"github.com/hfbroker/hfbroker/internal/buildinfo"
	"github.com/hfbroker/hfbroker/internal/config"
	"github.com/hfbroker/hfbroker/internal/hub"
	"github.com/hfbroker/hfbroker/internal/lane"
	"github.com/hfbroker/hfbroker/internal/lane/laneserver"
	"github.com/hfbroker/hfbroker/internal/osproc"
	"github.com/hfbroker/hfbroker/internal/peercred/grpccred"
	"github.com/hfbroker/hfbroker/internal/profilefile"
	"github.com/hfbroker/hfbroker/internal/secret"
	"github.com/hfbroker/hfbroker/internal/server"
	"github.com/hfbroker/hfbroker/internal/socket"
	"github.com/hfbroker/hfbroker/internal/wallclock"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
	"github.com/hfbroker/hfbroker/proto/hfbroker/v1/hfbrokerv1grpc"
)

// MaxMessageSize bounds every message, over gRPC and the lane alike: nothing
// the API carries comes near it, and a hostile peer of our own uid cannot make
// the daemon buffer more.
const MaxMessageSize = lane.MaxMessageSize

// Options configure one daemon run.
type Options struct {
	Env    config.Env
	Logger *slog.Logger
	// Socket overrides the socket path (else socket.DefaultPath).
	Socket string
	// Listener, when set, is served instead of binding a socket (socket activation, tests).
	Listener net.Listener
	// StopTimeout bounds a graceful stop before in-flight calls are cut.
	StopTimeout time.Duration
	// Ready, if set, is called once the daemon serves.
	Ready func(socketPath string)
	// NoHarden skips making the process non-dumpable (in-process tests).
	NoHarden bool
	// RemoteSocket overrides the restricted socket's path (else remote.sock
	// beside the socket; none when Listener is set); NoRemoteSocket serves none.
	RemoteSocket   string
	NoRemoteSocket bool

	// procs sets the process's Ps (hfbrokerd run, procs.go); nil leaves
	// them as they are (a daemon inside a test or benchmark process).
	procs *procs
	// limits overrides defaultConnLimits (tests shorten the timeouts).
	limits *connLimits
	// onPeers, if set, is handed the connection counter (tests).
	onPeers func(*peerCounter)
	// onForwards, if set, is handed the table of ssh forwards (tests).
	onForwards func(*forwards)
}

// Run serves until ctx ends or the socket is removed or replaced.
func Run(ctx context.Context, opts Options) error {
	if opts.Env == nil {
		opts.Env = os.Getenv
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 5 * time.Second
	}
	limits := defaultConnLimits()
	if opts.limits != nil {
		limits = *opts.limits
	}
	if !opts.NoHarden {
		if err := harden(); err != nil {
			log.Warn("process hardening incomplete", "err", err)
		}
	}

	paths, err := config.ResolvePaths(opts.Env)
	if err != nil {
		return err
	}
	cw, err := newConfigWatcher(paths.ConfigFile(), log)
	if err != nil {
		return err
	}
	cfg := cw.config()

	// Bind first: a second daemon must fail fast with "already running"
	// before it opens the keychain.
	lis, sockPath, closeLis, watch, err := listen(ctx, opts)
	if err != nil {
		return err
	}
	defer closeLis()
	// One daemon per socket is not enough: one per user's token store.
	unlockState, err := lockState(paths.StateDir, sockPath)
	if unsupported := (*stateLockUnsupported)(nil); errors.As(err, &unsupported) {
		log.Warn("daemon: the token store cannot be locked", "err", err)
	} else if err != nil {
		return err
	}
	defer unlockState()

	store, reason, err := openStore(ctx, cfg, paths, opts.Env, log)
	if err != nil {
		return err
	}
	defer store.Close()

	auditLog, err := audit.Open(paths.AuditFile(), audit.Options{})
	if err != nil {
		return fmt.Errorf("open audit log: %w", err)
	}
	defer auditLog.Close()

	px := newProxyManager(log, auditLog)
	px.procs = opts.procs
	defer px.Close(opts.StopTimeout)
	// Live leases outlive a restart (leasestate.go).
	state := newLeaseState(filepath.Join(paths.StateDir, leaseStateName), log)

	set := settingsOf(cfg)
	// A lease ends as soon as its process does: the kernel says so through
	// pidfds (Linux 5.3+); elsewhere the broker polls the process table.
	var exits broker.ExitWatcher
	if w, err := osproc.NewWatcher(); err == nil {
		exits = w
	} else {
		log.Debug("process exits are polled", "err", err)
	}
	// The reaper sleeps until the next lease ends; the kernel wakes it at
	// that wall-clock time even if the machine slept through it.
	var alarm broker.WallAlarm
	if a, err := wallclock.New(); err == nil {
		alarm = a
	} else {
		log.Debug("the reaper reads the wall clock every 30 s", "err", err)
	}
	b, err := broker.New(broker.Options{
		Store:        store,
		Hub:          hub.New(),
		Audit:        auditLog,
		Profiles:     &profilefile.Store{Path: paths.ProfilesFile()},
		Procs:        osproc.Table{},
		Exits:        exits,
		WallAlarm:    alarm,
		Logger:       log,
		DefaultTTL:   set.DefaultTTL,
		MaxTTL:       set.MaxTTL,
		GitTTL:       set.GitTTL,
		Routes:       set.Routes,
		GitPrefer:    set.GitPrefer,
		MaxUntilExit: set.MaxUntilExit,
		OnLeaseEnd: func(l broker.Lease) {
			px.End(l)
			if l.Persisted() {
				state.changed(false)
			}
		},
		OnLeasesChanged: func() { state.changed(false) },
		// OAuth profiles refresh with the client that issued them; this is
		// for those whose login did not record one.
		OAuthClientID: config.OAuthClientID(opts.Env, cfg),
		// After a burst, give the memory back now rather than at the
		// scavenger's pace: an idle daemon should look idle in top.
		OnIdle: debug.FreeOSMemory,
	})
	if err != nil {
		return err
	}
	// config.toml applies without a restart: routes, lease TTLs and git's
	// preference follow the file from the next call on. The backend is
	// chosen at start (hfbroker migrate moves tokens and records it).
	cw.apply = func(c *config.Config) { b.Configure(settingsOf(c)) }
	stopHUP := reloadOnSIGHUP(cw)
	defer stopHUP()
	px.live = func(id string) bool { _, ok := b.LeaseValid(id); return ok }
	px.endedCause = func(id string) (string, bool) {
		c, ok := b.EndedCause(id)
		return broker.EndedText(c), ok
	}
	px.leaseKey, px.leaseToken, px.saved, px.storeLocked = b.LeaseKey, b.LeaseToken, state.changed, b.Locked
	state.snapshot = func() leaseStateFile { return snapshotLeases(b, px) }
	endedPath := filepath.Join(paths.StateDir, endedTokensName)
	px.restoreEndedBook(readEndedTokens(endedPath, os.Getuid(), log))
	// After the last lease state write (deferred below), which follows the
	// last lease end.
	defer func() { writeEndedTokens(endedPath, px.endedBook(), log) }()
	restoreLeases(readLeaseState(state.path, os.Getuid(), log), b, px, log)
	state.start()
	// The last write, after the reaper has stopped, holds the leases the
	// next daemon takes back.
	defer state.stop()
	state.changed(false)
	px.current = func(ctx context.Context, id string) (secret.Token, error) {
		_, tok, err := b.LeaseToken(ctx, id)
		return tok, err
	}

	// Another uid's connection gets through the handshake only to have
	// every call answered PermissionDenied by the guard, first in the chain.
	// The local lane (lane.go) shares the guard and the interceptor chain.
	guard := grpccred.NewGuard(uint32(os.Getuid()), log)
	intercept := chainUnary(guard.Unary, cw.unary, recoverInterceptor(log), logInterceptor(log))
	srv := grpc.NewServer(
		grpc.Creds(guard.Creds),
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxSendMsgSize(MaxMessageSize),
		grpc.UnaryInterceptor(intercept),
		grpc.ChainStreamInterceptor(guard.Stream),
		// An unknown method goes through the guard too: another uid gets
		// PermissionDenied for it, not Unimplemented.
		grpc.UnknownServiceHandler(guard.Unknown),
		// A gRPC client's idle connection is sent GOAWAY (grpc clients
		// reconnect on their next call), as an idle lane connection is closed.
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: limits.idle}),
	)
	// Stores opened by a migration, closed when the daemon stops.
	var (
		extraMu sync.Mutex
		extra   []interface{ Close() error }
	)
	defer func() {
		extraMu.Lock()
		defer extraMu.Unlock()
		for _, s := range extra {
			s.Close()
		}
	}()
	// The build is read when the daemon starts, not at package init, so a
	// test can stamp buildinfo.Version first.
	build := buildinfo.Read()
	impl := server.New(b, server.Info{
		Socket:        sockPath,
		Backend:       store.Kind(),
		BackendReason: reason,
		Version:       build.Version,
		Build:         buildProto(build),
		StartedAt:     time.Now(),
		OpenStore: func(ctx context.Context, kind string, pass []byte) (broker.Store, error) {
			s, err := openBackend(ctx, kind, paths, opts.Env, pass)
			if err == nil {
				extraMu.Lock()
				extra = append(extra, s)
				extraMu.Unlock()
			}
			return s, err
		},
		SetBackend: func(kind string) error { return config.SetBackend(paths.ConfigFile(), kind) },
		Config:     cw.status,
		Proxy:      px,
	})
	// Both sockets serve forwardServer: the server plus RegisterForward,
	// and the forwards' rules on the restricted socket (remote.go).
	fw := newForwards(b, px, restrictedPath(opts, sockPath), log)
	defer fw.close()
	if opts.onForwards != nil {
		opts.onForwards(fw)
	}
	fimpl := &forwardServer{Server: impl, fw: fw, b: b}
	hfbrokerv1grpc.RegisterBrokerServiceServer(srv, fimpl)
	ls := laneserver.New(&hfbrokerv1grpc.BrokerService_ServiceDesc, fimpl, intercept, guard, limits.idle, log)
	stopRestricted := func(time.Duration) {}
	if fw.path != "" {
		rintercept := chainUnary(guard.Unary, fw.unary, cw.unary, recoverInterceptor(log), logInterceptor(log))
		stopRestricted = serveRestricted(fw, fimpl, rintercept, guard, limits, log)
	}
	split := newSplitter(lis, ls, limits, log)
	if opts.onPeers != nil {
		opts.onPeers(split.peers)
	}
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)

	// The reaper outlives the gRPC server's drain (handlers may still grant
	// leases) and ends before the audit log and the proxy close.
	reapCtx, stopReaper := context.WithCancel(context.Background())
	reaperDone := make(chan struct{})
	go func() { defer close(reaperDone); b.Run(reapCtx) }()
	defer func() { stopReaper(); <-reaperDone }()

	serveErr := make(chan error, 1)
	go split.run()
	go func() { serveErr <- srv.Serve(split.grpcLis) }()
	log.Info("hfbrokerd serving", "socket", sockPath, "pid", os.Getpid(), "backend", store.Kind(), "version", build.Version,
		"procs", runtime.GOMAXPROCS(0))
	if opts.Ready != nil {
		opts.Ready(sockPath)
	}

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("hfbrokerd stopping")
	case err := <-watch:
		log.Warn("socket gone; stopping", "socket", sockPath, "reason", err)
	case err := <-serveErr:
		runErr = fmt.Errorf("serve: %w", err)
	}
	hs.Shutdown()
	laneStopped := make(chan struct{})
	go func() { ls.Stop(opts.StopTimeout); close(laneStopped) }()
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(opts.StopTimeout):
		log.Warn("graceful stop timed out; cutting connections")
		srv.Stop()
		<-stopped
	}
	<-laneStopped
	stopRestricted(opts.StopTimeout)
	return runErr
}

// listen returns the listener to serve: an inherited one (systemd socket
// activation), the one in opts, or a freshly bound socket.
func listen(ctx context.Context, opts Options) (net.Listener, string, func(), <-chan error, error) {
	never := make(chan error)
	if opts.Listener != nil {
		return opts.Listener, opts.Listener.Addr().String(), func() {}, never, nil
	}
	if l, ok, err := socket.FromSystemd(); err != nil {
		return nil, "", nil, nil, err
	} else if ok {
		return l, l.Addr().String(), func() {}, never, nil
	}
	path := opts.Socket
	if path == "" {
		p, err := socket.DefaultPath()
		if err != nil {
			return nil, "", nil, nil, err
		}
		path = p
	}
	l, err := socket.Listen(path)
	if err != nil {
		return nil, "", nil, nil, err
	}
	watch := l.Watch(ctx, 2*time.Second)
	return l, path, func() { l.Close() }, watch, nil
}

func recoverInterceptor(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				// The stack, not the value: a panic value could hold request data.
				log.Error("panic in handler", "method", info.FullMethod, "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, "internal error")
			}
		}()
		return handler(ctx, req)
	}
}

// logInterceptor logs method, code, duration and the peer's uid and pid;
// never a request or response message, which may carry a token.
func logInterceptor(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		if log.Enabled(ctx, slog.LevelDebug) {
			c, _ := grpccred.FromContext(ctx)
			log.Debug("rpc", "method", strings.TrimPrefix(info.FullMethod, "/hfbroker.v1.BrokerService/"),
				"code", status.Code(err).String(), "duration", time.Since(start), "uid", c.UID, "pid", c.PID)
		}
		return resp, err
	}
}

// Main is hfbrokerd's entry point.
func Main(args []string, stdout, stderr io.Writer) int {
	if err := buildinfo.CheckPlatform(hostOS); err != nil {
		fmt.Fprintf(stderr, "hfbrokerd: error: %s\n", err)
		return 1
	}
	cmd := newRootCmd(stdout, stderr)
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		fmt.Fprintf(stderr, "hfbrokerd: error: %v\n", err)
		var h interface{ Hint() string }
		if errors.As(err, &h) && h.Hint() != "" {
			fmt.Fprintf(stderr, "hfbrokerd: hint: %s\n", h.Hint())
		}
		return 1
	}
	return 0
}

// settingsOf is what the broker follows of config.toml.
func settingsOf(c *config.Config) broker.Settings {
	routes := make([]broker.Route, 0, len(c.Routes))
	for _, r := range c.Routes {
		routes = append(routes, broker.Route{Match: r.Match, Dir: r.Dir, Profile: r.Profile})
	}
	return broker.Settings{DefaultTTL: c.LeaseTTL(), MaxTTL: c.MaxTTL(), GitTTL: c.GitTTL(),
		MaxUntilExit: c.MaxUntilExit(), Routes: routes, GitPrefer: c.Git.Prefer}
}

// reloadOnSIGHUP re-reads config.toml on every SIGHUP (which would otherwise
// end the daemon) until stop is called. The goroutine sleeps on the signal.
func reloadOnSIGHUP(cw *configWatcher) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-hup:
				cw.log.Info("SIGHUP: reloading config", "path", cw.path)
				cw.reload(true)
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
		<-exited
	}
}

// signalContext ends on SIGTERM or SIGINT.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
}

// hostOS is runtime.GOOS; tests play another system.
var hostOS = runtime.GOOS

// buildProto is the daemon's build as the status reply carries it.
func buildProto(i buildinfo.Info) *pb.BuildInfo {
	return &pb.BuildInfo{Version: i.Version, Revision: i.Revision, Modified: i.Modified, GoVersion: i.GoVersion, Platform: i.Platform}
}
