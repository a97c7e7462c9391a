package broker

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// procStat returns the fields of /proc/PID/stat after the command name, which
// may itself contain spaces and parentheses.
func procStat(pid int) ([][]byte, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 20 {
		return nil, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	// f[0] is field 3 (state). A zombie has exited, unless other threads
	// live on (f[17], field 20: num_threads): while a multithreaded Go
	// program execve()s from a thread other than the leader, the leader
	// shows as a zombie until the kernel hands its pid to the new image.
	if string(f[0]) == "X" || (string(f[0]) == "Z" && string(f[17]) == "1") {
		return nil, fmt.Errorf("process %d has exited", pid)
	}
	return f, nil
}

func procStartTime(pid int) (uint64, error) {
	f, err := procStat(pid)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(string(f[19]), 10, 64) // field 22: starttime
}

func procParent(pid int) (int, error) {
	f, err := procStat(pid)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(string(f[1])) // field 4: ppid
}

func procExe(pid int) string {
	s, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	return s
}

func procCwd(pid int) string {
	s, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/cwd")
	return s
}
