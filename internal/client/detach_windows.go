package client

import (
	"os/exec"
	"syscall"
)

const exeSuffix = ".exe"

func detach() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }

func daemonCommand(bin string) *exec.Cmd { return exec.Command(bin, "run") }

// startWithoutInheritedFds: Windows hands a child only the handles it is
// told to.
func startWithoutInheritedFds(start func() error) error { return start() }
