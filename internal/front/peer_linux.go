package front

import "golang.org/x/sys/unix"

// peerUID is the uid of the process that serves the unix socket fd (the
// front made fd itself, an AF_UNIX socket: one getsockopt, where
// peercred.FromFD first asks getsockname what kind of socket it is).
func peerUID(fd int) (int, error) {
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return -1, err
	}
	return int(cred.Uid), nil
}
