//go:build unix

package daemon

import "syscall"

// The few system calls the daemon's tests make that Windows does not have
// (GOOS=windows go vet builds the tests too).

// asUser is a SysProcAttr that runs a child as uid and gid.
func asUser(uid, gid uint32) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
}

// sendHUP sends SIGHUP to the process pid.
func sendHUP(pid int) error { return syscall.Kill(pid, syscall.SIGHUP) }

// mkfifo makes a named pipe at path.
func mkfifo(path string) error { return syscall.Mkfifo(path, 0o600) }
