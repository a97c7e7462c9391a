// Package client dials hfbrokerd for the CLI: it finds the socket, checks
// that the daemon on it runs as the same user, starts the daemon when nothing
// listens, and calls the BrokerService over the daemon's local lane. Failed
// calls return a *lane.Error carrying the gRPC status code and ErrorDetail.
package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/protobuf/proto"

	"github.com/hfbroker/hfbroker/internal/config"
	"github.com/hfbroker/hfbroker/internal/fullcli"
	"github.com/hfbroker/hfbroker/internal/lane"
	"github.com/hfbroker/hfbroker/internal/peercred"
	"github.com/hfbroker/hfbroker/internal/socket"
)

// Options say how to reach the daemon.
type Options struct {
	Env config.Env
	// Socket overrides the socket path.
	Socket string
	// NoAutostart leaves a missing daemon missing (HFBROKER_NO_AUTOSTART=1).
	NoAutostart bool
	// StartTimeout bounds waiting for an autostarted daemon.
	StartTimeout time.Duration
	// Handover is the daemon's answer to a call the front end made before
	// it executed this CLI (lane.Handover): that call, made again, is
	// answered from it, not asked twice.
	Handover *lane.Handover
}

// Client is a connection to the daemon. Its calls go over the daemon's
// local lane (internal/lane): the BrokerService, without gRPC's client stack,
// which would cost every short-lived CLI process more than its call does.
// Calls take turns. When a call finds the connection broken (the daemon
// restarted, say), the next call dials afresh, checking the server's uid
// again.
type Client struct {
	Socket string

	handover *lane.Handover

	mu     sync.Mutex
	lane   *lane.Conn
	closed bool
}

// SocketPath is the socket the client talks to.
func (c *Client) SocketPath() string { return c.Socket }

// Close closes the connection.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.lane == nil {
		return nil
	}
	err := c.lane.Close()
	c.lane = nil
	return err
}

// invoke runs one BrokerService call.
func invoke[Resp proto.Message](ctx context.Context, c *Client, method string, req proto.Message, resp Resp) (Resp, error) {
	var zero Resp
	l, err := c.conn()
	if err != nil {
		return zero, err
	}
	err = l.Invoke(ctx, method, req, resp)
	if lane.NotSent(err) {
		// As in invokeRaw: the call never left, make it on a new connection.
		if l, err = c.conn(); err != nil {
			return zero, err
		}
		err = l.Invoke(ctx, method, req, resp)
	}
	if err != nil {
		return zero, err
	}
	return resp, nil
}

// invokeRaw runs one BrokerService call whose messages the caller encodes
// and decodes by hand (wire.go). The response is valid until the next call.
func invokeRaw(ctx context.Context, c *Client, method string, req []byte) ([]byte, error) {
	// The front's calls (Lease, ReportGitCredential) are all hand-encoded,
	// so a call it handed over is always made here.
	if raw, ok := c.handover.Take(method, req); ok {
		return lane.Result(method, raw)
	}
	l, err := c.conn()
	if err != nil {
		return nil, err
	}
	out, err := l.InvokeRaw(ctx, method, req)
	if lane.NotSent(err) {
		// The daemon had closed the kept connection (idle, or it
		// restarted): the call never left, so make it on a new one.
		if l, err = c.conn(); err != nil {
			return nil, err
		}
		out, err = l.InvokeRaw(ctx, method, req)
	}
	return out, err
}

// conn returns the lane to call on.
func (c *Client) conn() (*lane.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, &lane.Error{Code: code.Code_UNAVAILABLE, Message: "the connection to hfbrokerd is closed"}
	}
	l := c.lane
	// The daemon closes idle connections (lane.IdleTimeout): dial a fresh
	// one for a connection it may be closing, rather than lose the call.
	// One it has already closed refuses the call's write, and invokeRaw
	// dials again then (lane.NotSent): no peek at the socket before every
	// call, which cost a busy client a system call per call.
	if l == nil || l.Broken() || l.Idle() > lane.IdleTimeout/2 {
		if l != nil {
			l.Close()
		}
		c.lane = nil
		nc, err := dialChecked(c.Socket)
		if err != nil {
			return nil, &lane.Error{Code: code.Code_UNAVAILABLE, Message: err.Error()}
		}
		l = lane.NewConn(nc)
		c.lane = l
	}
	return l, nil
}

// UnreachableError means no daemon could be reached or started (exit code 3).
type UnreachableError struct {
	Socket string
	Err    error
	hint   string
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach hfbrokerd at %s: %v", e.Socket, e.Err)
}
func (e *UnreachableError) Unwrap() error { return e.Err }

// Hint says what to do about it.
func (e *UnreachableError) Hint() string { return e.hint }

// ErrForeignSocket means the socket belongs to another user: nothing is sent.
var ErrForeignSocket = errors.New("the socket is served by another user")

// Dial connects to the daemon, starting it first when nothing listens.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	if opts.Env == nil {
		opts.Env = os.Getenv
	}
	path := opts.Socket
	if path == "" {
		p, err := socket.DefaultPath()
		if err != nil {
			return nil, &UnreachableError{Socket: "(none)", Err: err, hint: "set HFBROKER_SOCKET to a short path in a private directory"}
		}
		path = p
	}
	first, err := dialChecked(path)
	if err != nil {
		if errors.Is(err, ErrForeignSocket) {
			return nil, &UnreachableError{Socket: path, Err: err, hint: "someone else controls this socket; remove it or set HFBROKER_SOCKET"}
		}
		if Restricted(path, opts.Env) {
			return nil, &UnreachableError{Socket: path, Err: err, hint: restrictedHint(opts.Env)}
		}
		if opts.NoAutostart || opts.Env("HFBROKER_NO_AUTOSTART") == "1" {
			return nil, &UnreachableError{Socket: path, Err: err, hint: "start the daemon with 'hfbrokerd' (autostart is off: HFBROKER_NO_AUTOSTART=1)"}
		}
		// A daemon refuses a socket directory other users can reach,
		// and says why only in its log: say it here, without waiting.
		if derr := socket.CheckDir(filepath.Dir(path)); derr != nil {
			return nil, &UnreachableError{Socket: path, Err: derr, hint: "fix the socket's directory as said, or set HFBROKER_SOCKET to a path in a private directory"}
		}
		if serr := autostart(ctx, path, opts); serr != nil {
			return nil, serr
		}
		if first, err = dialChecked(path); err != nil {
			return nil, &UnreachableError{Socket: path, Err: err}
		}
	}
	return &Client{Socket: path, handover: opts.Handover, lane: lane.NewConn(first)}, nil
}

// probe dials the socket and checks who serves it, before gRPC sends
// anything: a socket squatted by another user must not receive a token.
func probe(path string) error {
	c, err := dialChecked(path)
	if err != nil {
		return err
	}
	return c.Close()
}

// dialChecked connects to the socket and returns the connection only if the
// server runs as our uid.
func dialChecked(path string) (net.Conn, error) {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return nil, err
	}
	cred, err := peercred.Get(c)
	if err != nil {
		c.Close()
		return nil, err
	}
	if int(cred.UID) != os.Getuid() {
		c.Close()
		return nil, fmt.Errorf("%w (uid %d, not %d)", ErrForeignSocket, cred.UID, os.Getuid())
	}
	return c, nil
}

// autostart launches hfbrokerd in the background, in its own session, and
// waits for its socket to answer.
func autostart(ctx context.Context, path string, opts Options) error {
	bin, err := daemonPath(opts.Env)
	if err != nil {
		return &UnreachableError{Socket: path, Err: err, hint: "install hfbrokerd next to hfbroker or on PATH, or set HFBROKER_DAEMON"}
	}
	// The daemon starts behind a shell (see daemonCommand), so check here
	// what exec would have told us: that there is something to run.
	if st, err := os.Stat(bin); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		hint := "install hfbrokerd next to hfbroker or on PATH"
		if opts.Env("HFBROKER_DAEMON") != "" {
			hint = "HFBROKER_DAEMON=" + opts.Env("HFBROKER_DAEMON") + " cannot be run: fix or unset it"
		}
		if err == nil {
			err = fmt.Errorf("%s is not an executable file", bin)
		}
		return &UnreachableError{Socket: path, Err: fmt.Errorf("start hfbrokerd: %w", err), hint: hint}
	}
	paths, err := config.ResolvePaths(opts.Env)
	if err != nil {
		return &UnreachableError{Socket: path, Err: err}
	}
	if err := os.MkdirAll(paths.StateDir, 0o700); err != nil {
		return &UnreachableError{Socket: path, Err: err}
	}
	logf, err := os.OpenFile(paths.DaemonLog(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return &UnreachableError{Socket: path, Err: err}
	}
	defer logf.Close()
	cmd := daemonCommand(bin)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = daemonEnv(os.Environ(), path)
	cmd.SysProcAttr = detach()
	if err := startWithoutInheritedFds(cmd.Start); err != nil {
		hint := "install hfbrokerd next to hfbroker or on PATH"
		if opts.Env("HFBROKER_DAEMON") != "" {
			hint = "HFBROKER_DAEMON=" + opts.Env("HFBROKER_DAEMON") + " cannot be run: fix or unset it"
		}
		return &UnreachableError{Socket: path, Err: fmt.Errorf("start %s: %w", bin, err), hint: hint}
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		if lastErr = probe(path); lastErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return &UnreachableError{Socket: path, Err: ctx.Err()}
		case err := <-exited:
			// Another client may have started a daemon first; ours then
			// exits "already running" and the socket answers shortly.
			if perr := probe(path); perr == nil {
				return nil
			}
			exited = nil
			lastErr = fmt.Errorf("hfbrokerd exited (%v); see %s", err, paths.DaemonLog())
		case <-time.After(25 * time.Millisecond):
		}
	}
	return &UnreachableError{Socket: path, Err: lastErr, hint: "see " + paths.DaemonLog() + ", or run 'hfbrokerd' in a terminal to see why it does not start"}
}

// daemonPath finds hfbrokerd: $HFBROKER_DAEMON, next to this executable, or on PATH.
func daemonPath(env config.Env) (string, error) {
	self, _ := os.Executable()
	return daemonPathFrom(env, self)
}

// daemonPathFrom is daemonPath for the executable at self ("" if unknown).
func daemonPathFrom(env config.Env, self string) (string, error) {
	if p := env("HFBROKER_DAEMON"); p != "" {
		return p, nil
	}
	if self != "" {
		dirs := []string{filepath.Dir(self)}
		// The full CLI may sit in libexec/hfbroker/: hfbrokerd is beside
		// the front end (issue 16).
		if front := fullcli.Front(self); front != "" {
			dirs = append(dirs, filepath.Dir(front))
		}
		for _, d := range dirs {
			p := filepath.Join(d, "hfbrokerd"+exeSuffix)
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				return p, nil
			}
		}
	}
	p, err := exec.LookPath("hfbrokerd" + exeSuffix)
	if err != nil {
		return "", fmt.Errorf("hfbrokerd not found: %w", err)
	}
	return p, nil
}

// daemonEnv is the autostarted daemon's environment: ours, without any token
// a user left exported (the daemon would hold it for its whole life) or the
// marks of an `hfbroker exec` child, and with the socket it must serve.
func daemonEnv(environ []string, socket string) []string {
	out := make([]string, 0, len(environ)+1)
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "HF_TOKEN", k == "HUGGING_FACE_HUB_TOKEN", k == "HFBROKER_LEASE", k == "HFBROKER_PROFILE",
			k == "HFBROKER_SOCKET", strings.HasPrefix(k, "HF_OIDC_"):
			continue
		}
		out = append(out, kv)
	}
	return append(out, "HFBROKER_SOCKET="+socket)
}
