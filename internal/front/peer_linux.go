package front

import "syscall"

// peerUID is the uid of the process that serves the unix socket fd (the
// front made fd itself, an AF_UNIX socket: one getsockopt, where
// peercred.FromFD first asks getsockname what kind of socket it is).
func peerUID(fd int) (int, error) {
	cred, err := syscall.GetsockoptUcred(fd, syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	if err != nil {
		return -1, err
	}
	return int(cred.Uid), nil
}
