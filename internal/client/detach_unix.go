//go:build !windows

package client

import "syscall"

const exeSuffix = ""

func detach() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }
