package socket

import (
	"path/filepath"
	"strings"
)

// EnvForward names the host a forwarded socket comes from: `hfbroker ssh`
// sets it on the remote, beside HFBROKER_SOCKET (issue 15).
const EnvForward = "HFBROKER_FORWARD"

// RestrictedName is the restricted socket's file name, beside the main
// socket.
const RestrictedName = "remote.sock"

// Restricted reports whether path is a daemon's restricted socket, here or
// forwarded from elsewhere: HFBROKER_FORWARD is set, or its name is
// remote.sock or remote-*.sock. No daemon is ever autostarted for it: the
// daemon that serves it runs on another machine (or outside the container).
func Restricted(path string, getenv func(string) string) bool {
	if getenv(EnvForward) != "" {
		return true
	}
	base := filepath.Base(path)
	return base == RestrictedName || strings.HasPrefix(base, "remote-") && strings.HasSuffix(base, ".sock")
}
