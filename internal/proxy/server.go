package proxy

import (
	"fmt"
	"net"
	"net/http"
	"time"
)

// MaxHeaderBytes bounds a request's header block. Hub requests carry a
// token, a user agent and a few small headers; 64 KiB leaves room for long
// file paths in the request line.
const MaxHeaderBytes = 64 << 10

// NewServer returns the http.Server the daemon runs the proxy in. It bounds
// how long a client may take to send headers and how large they are, and
// closes idle keep-alive connections. There is no ReadTimeout or
// WriteTimeout: uploads and downloads of many gigabytes stream through and
// may take hours; a dead peer is found by TCP keep-alive.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    MaxHeaderBytes,
		IdleTimeout:       2 * time.Minute,
	}
}

// Listen opens the proxy's listener on an ephemeral port of 127.0.0.1. It
// never listens elsewhere: the proxy turns lease tokens into the real token
// and must not be reachable from another machine.
func Listen() (net.Listener, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on 127.0.0.1 for the hub proxy: %w", err)
	}
	return l, nil
}
