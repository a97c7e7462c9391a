//go:build !windows

package client

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

const exeSuffix = ""

func detach() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

// daemonCommand starts hfbrokerd through a shell that backgrounds it and
// exits at once, so the daemon is not our child: `hfbroker exec` replaces
// this process with the user's command, which must not inherit a daemon to
// wait for (or be signalled about when it exits).
func daemonCommand(bin string) *exec.Cmd {
	return exec.Command("/bin/sh", "-c", `"$0" run </dev/null &`, bin)
}

// startWithoutInheritedFds runs start (cmd.Start) with every descriptor
// above stderr that this process inherited marked close-on-exec, and then
// restores them. Go opens its own files close-on-exec, but descriptors
// handed to hfbroker by whoever ran it (a terminal on fd 3, the pipe a
// parent reads until EOF, make's jobserver) are not, and the daemon would
// hold them for as long as it lives: the parent's read never ends, the
// terminal never closes (issue 19: a login on a pseudo-terminal hung until
// the daemon exited). Only the daemon is kept from them; `hfbroker exec`
// still hands them to the user's command.
func startWithoutInheritedFds(start func() error) error {
	entries, _ := os.ReadDir("/dev/fd")
	var marked []int
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= 2 {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC != 0 {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, flags|unix.FD_CLOEXEC); err == nil {
			marked = append(marked, fd)
		}
	}
	defer func() {
		for _, fd := range marked {
			if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
				unix.FcntlInt(uintptr(fd), unix.F_SETFD, flags&^unix.FD_CLOEXEC)
			}
		}
	}()
	return start()
}
