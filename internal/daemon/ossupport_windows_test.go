package daemon

import (
	"errors"
	"syscall"
)

// Windows has none of these; the tests that use them run on Unix.

func asUser(uid, gid uint32) *syscall.SysProcAttr { return nil }

func sendHUP(pid int) error { return errors.ErrUnsupported }

func mkfifo(path string) error { return errors.ErrUnsupported }
