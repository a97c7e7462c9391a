//go:build !linux

package peercred

import "net"

// LoopbackOwner is implemented on Linux only (sock_diag); elsewhere it fails
// with ErrUnsupported.
func LoopbackOwner(net.Conn) (uint32, error) { return 0, ErrUnsupported }
