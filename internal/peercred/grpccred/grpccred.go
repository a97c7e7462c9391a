// Package grpccred puts peercred to work for gRPC: transport credentials that
// read each peer's uid from the kernel, and the daemon's Guard, which answers
// every call from another uid with PermissionDenied. It is a package of its own
// so that peercred, which the CLI uses, does not link gRPC.
package grpccred

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/hfbroker/hfbroker/internal/peercred"
)

// authType is AuthInfo.AuthType and the ProtocolInfo security protocol.
const authType = "peercred"

// AuthInfo is the credentials.AuthInfo the handshakes return: the kernel's
// view of the other end. On the server it describes the client; on the client,
// the server.
type AuthInfo struct {
	credentials.CommonAuthInfo
	peercred.Creds
	// Foreign marks a peer of another uid that a Guard let through the
	// handshake only so that its calls can be refused with PermissionDenied.
	Foreign bool
	// Process is the peer's process as a Known connection pinned it (the
	// daemon's osproc.Peer); nil for other connections.
	Process any
}

// Known is a connection whose peer the server has already read from the
// kernel (the daemon does so at accept, to count the connection against its
// peer's caps): the server handshake takes its credentials instead of
// asking the kernel again. Only the server's own connection types implement
// it; nothing a peer sends can.
type Known interface {
	// PeerCreds are the peer's credentials as the kernel reported them.
	PeerCreds() peercred.Creds
	// PeerProcess is the peer's process as the connection pinned it at
	// accept, for AuthInfo.Process; nil when there is none.
	PeerProcess() any
}

// ProcessFromContext returns the calling client's process as its
// connection pinned it (AuthInfo.Process), inside a handler served with a
// Guard; nil when unknown.
func ProcessFromContext(ctx context.Context) any {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil
	}
	ai, ok := p.AuthInfo.(AuthInfo)
	if !ok || ai.Foreign {
		return nil
	}
	return ai.Process
}

// AuthType implements credentials.AuthInfo.
func (AuthInfo) AuthType() string { return authType }

// FromContext returns the calling client's credentials inside a gRPC handler
// served with NewServerCredentials.
func FromContext(ctx context.Context) (peercred.Creds, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return peercred.Creds{}, false
	}
	ai, ok := p.AuthInfo.(AuthInfo)
	if !ok || ai.Foreign {
		return peercred.Creds{}, false
	}
	return ai.Creds, true
}

// transportCreds implements credentials.TransportCredentials for one side of
// a unix socket. It adds no encryption: the kernel carries the bytes between
// two processes and the uid check decides who may be on the other end, which
// is why the connection is labelled PrivacyAndIntegrity (as grpc's own
// credentials/local does for unix sockets).
type transportCreds struct {
	server bool
	uid    uint32
	logger *slog.Logger
	// deferRefusal lets a foreign peer finish the handshake, marked Foreign,
	// so the Guard's interceptors can answer it PermissionDenied.
	deferRefusal bool
}

// NewServerCredentials returns the daemon's transport credentials: each
// accepted connection's peer uid is read from the kernel, and a peer whose
// uid is not allowUID is dropped in the handshake, before any request is read
// or any handler runs. Refusals are logged at Warn to logger (slog.Default()
// when nil) with the peer's uid and pid only.
func NewServerCredentials(allowUID uint32, logger *slog.Logger) credentials.TransportCredentials {
	if logger == nil {
		logger = slog.Default()
	}
	return &transportCreds{server: true, uid: allowUID, logger: logger}
}

// NewClientCredentials returns the CLI's transport credentials: before any
// byte is written, the uid that created the listening socket is read from the
// kernel and the connection is dropped unless it is wantUID. This keeps a
// socket squatted by another user from receiving requests (and the tokens
// some of them carry).
func NewClientCredentials(wantUID uint32) credentials.TransportCredentials {
	return &transportCreds{uid: wantUID}
}

// ServerHandshake implements credentials.TransportCredentials.
func (t *transportCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if !t.server {
		return nil, nil, errors.New("peercred: client credentials cannot accept connections")
	}
	var (
		c    peercred.Creds
		proc any
	)
	if k, ok := raw.(Known); ok {
		c, proc = k.PeerCreds(), k.PeerProcess()
	} else {
		var err error
		if c, err = peercred.Get(raw); err != nil {
			t.logger.Warn("peercred: refused connection: cannot read peer credentials", "err", err)
			return nil, nil, fmt.Errorf("peercred: read peer credentials: %w", err)
		}
	}
	if c.UID != t.uid {
		// grpc logs this error too; like the Warn line, it names only the
		// peer's uid and pid.
		t.logger.Warn("peercred: refused connection from another user", "uid", c.UID, "pid", c.PID)
		if t.deferRefusal {
			ai := authInfo(c)
			ai.Foreign = true
			return raw, ai, nil
		}
		return nil, nil, fmt.Errorf("peercred: %w: refused connection from uid %d (pid %d)", peercred.ErrWrongUser, c.UID, c.PID)
	}
	ai := authInfo(c)
	ai.Process = proc
	return raw, ai, nil
}

// ClientHandshake implements credentials.TransportCredentials.
func (t *transportCreds) ClientHandshake(_ context.Context, _ string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if t.server {
		return nil, nil, errors.New("peercred: server credentials cannot dial")
	}
	addr := "the daemon socket"
	if ra := raw.RemoteAddr(); ra != nil && ra.String() != "" {
		addr = ra.String()
	}
	c, err := peercred.Get(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("peercred: read the credentials of %s: %w", addr, err)
	}
	if c.UID != t.uid {
		return nil, nil, fmt.Errorf("peercred: %w: %s is owned by uid %d, not you (uid %d); refusing to send it anything",
			peercred.ErrWrongUser, addr, c.UID, t.uid)
	}
	return raw, authInfo(c), nil
}

func authInfo(c peercred.Creds) AuthInfo {
	return AuthInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}, Creds: c}
}

// Info implements credentials.TransportCredentials.
func (t *transportCreds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: authType}
}

// Clone implements credentials.TransportCredentials.
func (t *transportCreds) Clone() credentials.TransportCredentials {
	c := *t
	return &c
}

// OverrideServerName implements credentials.TransportCredentials; there is no
// server name to check on a unix socket.
func (t *transportCreds) OverrideServerName(string) error { return nil }

// Dialer dials a unix socket for grpc.WithContextDialer. It accepts a plain
// path or the forms grpc passes a custom dialer for unix targets
// ("unix:///abs/path", "unix:rel/path").
func Dialer(ctx context.Context, addr string) (net.Conn, error) {
	path := addr
	if p, ok := strings.CutPrefix(addr, "unix://"); ok {
		path = p
	} else if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		path = p
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", path, err)
	}
	return c, nil
}

// Guard is the daemon's gate: transport credentials that read each peer's
// uid at accept, and interceptors that answer every call from a peer of
// another uid with PermissionDenied before any handler runs. The foreign
// peer thus learns why it was refused (grpc clients otherwise see only a
// closed connection) and is served nothing.
//
// Every call means every call, including one to a method or service that
// does not exist: serve Unknown with grpc.UnknownServiceHandler beside
// Stream, so that grpc runs the Stream interceptor (which refuses another
// uid) before answering Unimplemented. Without it grpc answers Unimplemented
// itself, before any interceptor, and another uid learns what the daemon
// serves (issue 19).
type Guard struct {
	Creds  credentials.TransportCredentials
	Unary  grpc.UnaryServerInterceptor
	Stream grpc.StreamServerInterceptor
	// Unknown answers a call to an unknown method or service Unimplemented,
	// as grpc would; behind Stream only the allowed uid gets that far.
	Unknown grpc.StreamHandler
	// Check is the test the interceptors apply: nil for a call from the
	// allowed uid, PermissionDenied otherwise. The daemon's local lane calls
	// it first, before looking up the method.
	Check func(ctx context.Context) error
}

// NewGuard returns a Guard that lets only allowUID through.
func NewGuard(allowUID uint32, logger *slog.Logger) Guard {
	if logger == nil {
		logger = slog.Default()
	}
	check := func(ctx context.Context) error {
		p, ok := peer.FromContext(ctx)
		if !ok {
			return status.Error(codes.PermissionDenied, "peercred: unknown peer")
		}
		ai, ok := p.AuthInfo.(AuthInfo)
		if !ok {
			return status.Error(codes.PermissionDenied, "peercred: peer credentials unknown")
		}
		if ai.Foreign || ai.UID != allowUID {
			return status.Errorf(codes.PermissionDenied, "peercred: uid %d may not use the daemon of uid %d", ai.UID, allowUID)
		}
		return nil
	}
	return Guard{
		Creds: &transportCreds{server: true, uid: allowUID, logger: logger, deferRefusal: true},
		Check: check,
		Unknown: func(_ any, ss grpc.ServerStream) error {
			m, _ := grpc.MethodFromServerStream(ss)
			return status.Errorf(codes.Unimplemented, "unknown method %s", m)
		},
		Unary: func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := check(ctx); err != nil {
				return nil, err
			}
			return h(ctx, req)
		},
		Stream: func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := check(ss.Context()); err != nil {
				return err
			}
			return h(srv, ss)
		},
	}
}
