//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package runenv

import (
	"os"

	"golang.org/x/sys/unix"
)

// inForeground reports whether hfbroker's process group is the foreground
// group of its controlling terminal, i.e. whether a Ctrl-C typed there was
// delivered to hfbroker and its child alike. With no controlling terminal
// (a service, CI, setsid) it is false. Stdin being a terminal is not the
// test: a background job (`hfbroker exec … &`) has a terminal on stdin but
// gets no Ctrl-C, and `hfbroker exec … < file` gets one without.
func inForeground() bool {
	f, err := os.Open("/dev/tty")
	if err != nil {
		return false
	}
	defer f.Close()
	pgrp, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCGPGRP)
	if err != nil {
		return false
	}
	return pgrp == unix.Getpgrp()
}
