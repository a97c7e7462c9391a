package client

import "syscall"

const exeSuffix = ".exe"

func detach() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
