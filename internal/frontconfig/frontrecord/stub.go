package frontrecord

import "syscall"

func Lookup(configPath, recordPath string, uid int) (string, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(configPath, &st); err == syscall.ENOENT {
		return "", true
	}
	return "", false
}
