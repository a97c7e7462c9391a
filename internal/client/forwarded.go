package client

import (
	"path/filepath"
	"strings"

	"github.com/hfbroker/hfbroker/internal/config"
)

// ForwardEnv names the host a forwarded socket comes from: `hfbroker ssh`
// sets it on the remote, beside HFBROKER_SOCKET (issue 15).
const ForwardEnv = "HFBROKER_FORWARD"

// Restricted reports whether path is a daemon's restricted socket, here or
// forwarded from elsewhere: HFBROKER_FORWARD is set, or its name is
// remote.sock or remote-*.sock. No daemon is ever autostarted for it: the
// daemon that serves it runs on another machine (or outside the container).
func Restricted(path string, env config.Env) bool {
	if env(ForwardEnv) != "" {
		return true
	}
	base := filepath.Base(path)
	return base == "remote.sock" || strings.HasPrefix(base, "remote-") && strings.HasSuffix(base, ".sock")
}

// restrictedHint says what to do when a restricted socket does not answer.
func restrictedHint(env config.Env) string {
	if h := env(ForwardEnv); h != "" {
		return "this socket is forwarded from " + h + " and its ssh session has ended: reconnect with 'hfbroker ssh " + h + "' (no daemon is started here)"
	}
	return "this is hfbroker's restricted socket: the daemon that serves it is not running, or the socket was mounted from elsewhere (no daemon is started here)"
}
