package peercred

import (
	"fmt"

	"golang.org/x/sys/unix"
)

const supported = true

// fromFD reads SO_PEERCRED, which holds the peer's pid, uid and gid as of
// connect(2) (client) or listen(2) (server).
func fromFD(fd int) (Creds, error) {
	if err := checkUnix(fd); err != nil {
		return Creds{}, err
	}
	u, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return Creds{}, fmt.Errorf("read SO_PEERCRED: %w", err)
	}
	return Creds{UID: u.Uid, GID: u.Gid, PID: u.Pid}, nil
}
