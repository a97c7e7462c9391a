package peercred

import (
	"fmt"

	"golang.org/x/sys/unix"
)

const supported = true

// fromFD reads LOCAL_PEERCRED for the uid and primary gid, and LOCAL_PEERPID
// for the pid. The uid is what authorises; the pid is only for the audit, so
// a failure to read it leaves PID 0 instead of failing the connection.
func fromFD(fd int) (Creds, error) {
	if err := checkUnix(fd); err != nil {
		return Creds{}, err
	}
	xu, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return Creds{}, fmt.Errorf("read LOCAL_PEERCRED: %w", err)
	}
	c := Creds{UID: xu.Uid}
	if xu.Ngroups > 0 {
		c.GID = xu.Groups[0]
	}
	if pid, err := unix.GetsockoptInt(fd, unix.SOL_LOCAL, unix.LOCAL_PEERPID); err == nil {
		c.PID = int32(pid)
	}
	return c, nil
}
