//go:build !windows

package client

import (
	"os/exec"
	"syscall"
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
