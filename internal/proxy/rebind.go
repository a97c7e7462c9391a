package proxy

import (
	"fmt"
	"net"
	"strconv"
	"time"
)

// ListenOn opens the proxy's listener on port of 127.0.0.1, the port a
// restarted daemon's jobs still have in HF_ENDPOINT (issue 20 item 7). When
// the port cannot be had (another program took it meanwhile), it listens on
// a new ephemeral port and says so with moved: jobs that knew the old port
// then fail, as they would have without the restart.
func ListenOn(port int) (l net.Listener, moved bool, err error) {
	if port <= 0 || port > 65535 {
		l, err = Listen()
		return l, false, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	l, err = net.Listen("tcp", addr)
	if err == nil {
		return l, false, nil
	}
	l, err2 := Listen()
	if err2 != nil {
		return nil, false, fmt.Errorf("listen on %s for the hub proxy: %w", addr, err)
	}
	return l, true, nil
}

// Waiting is implemented by a Leases that may hold leases it cannot serve
// yet: a daemon restarted with its file vault locked keeps its jobs' leases
// but has neither their tokens nor the key to recognise their lease tokens
// until the vault is unlocked. While Waiting says so, a lease token that
// matches no lease gets 503 with Retry-After (huggingface_hub retries it)
// instead of the 401 that would end the job.
type Waiting interface {
	Waiting() (retryAfter time.Duration, reason string, ok bool)
}
