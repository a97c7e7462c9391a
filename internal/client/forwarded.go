package client

import (
	"github.com/hfbroker/hfbroker/internal/config"
	"github.com/hfbroker/hfbroker/internal/socket"
)

// ForwardEnv names the host a forwarded socket comes from (socket.EnvForward).
const ForwardEnv = socket.EnvForward

// Restricted reports whether path is a daemon's restricted socket, here or
// forwarded from elsewhere (socket.Restricted).
func Restricted(path string, env config.Env) bool { return socket.Restricted(path, env) }

// restrictedHint says what to do when a restricted socket does not answer.
func restrictedHint(env config.Env) string {
	if h := env(ForwardEnv); h != "" {
		return "this socket is forwarded from " + h + " and its ssh session has ended: reconnect with 'hfbroker ssh " + h + "' (no daemon is started here)"
	}
	return "this is hfbroker's restricted socket: the daemon that serves it is not running, or the socket was mounted from elsewhere (no daemon is started here)"
}
