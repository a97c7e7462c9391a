package client

import (
	"os/exec"
	"syscall"
)

const exeSuffix = ".exe"

func detach() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }

func daemonCommand(bin string) *exec.Cmd { return exec.Command(bin, "run") }
