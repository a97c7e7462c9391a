package osproc

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// procStat returns the fields of /proc/PID/stat after the command name, which
// may itself contain spaces and parentheses.
func procStat(pid int) ([][]byte, error) {
	b, err := readProc("/proc/" + strconv.Itoa(pid) + "/stat")
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

// readProc reads a /proc file with three system calls. os.ReadFile makes
// ten of a /proc file: it offers the descriptor to the runtime's poller,
// which refuses it only after four fcntl and an epoll_ctl, and asks fstat
// for a size /proc does not know. Every lease for a process reads its
// /proc/PID/stat before the daemon answers, and the walk for a process
// tree's heirs reads every process's environ (docs/benchmarks-analysis.md,
// round 6c).
func readProc(path string) ([]byte, error) {
	fd, err := retryEINTR(func() (int, error) { return unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0) })
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	b := make([]byte, 0, 512)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := retryEINTR(func() (int, error) { return unix.Read(fd, b[len(b):cap(b)]) })
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return b, nil
		}
		b = b[:len(b)+n]
	}
}

func retryEINTR(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if err != unix.EINTR {
			return n, err
		}
	}
}

func startTime(pid int) (uint64, error) {
	f, err := procStat(pid)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(string(f[19]), 10, 64) // field 22: starttime
}

func parent(pid int) (int, error) {
	f, err := procStat(pid)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(string(f[1])) // field 4: ppid
}

func exe(pid int) string {
	s, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	return s
}

func cwd(pid int) string {
	s, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/cwd")
	return s
}

// canList: /proc lists every process, and a process of the same uid
// lets its owner read its environment.
const canList = true

// carriers walks /proc for the processes of uid whose initial
// environment (what execve gave them, which their children inherit) holds
// key=value for one of values. Processes it may not read (another uid, a
// setuid program) are passed over; unsure says that one of uid's processes
// started at or after since had no environment to read (mid-execve, or a
// zombie). It runs only when a followed lease has lost its last known
// process, never on a lease's hot path.
func carriers(uid int, key string, values []string, since uint64) (out map[string][]int, unsure bool) {
	want := make(map[string]bool, len(values))
	for _, v := range values {
		want[v] = true
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, false
	}
	self := os.Getpid()
	prefix := []byte(key + "=")
	out = map[string][]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if fi, err := e.Info(); err != nil {
			continue
		} else if st, ok := fi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != uid {
			continue
		}
		env, err := readProc("/proc/" + e.Name() + "/environ")
		if err != nil || len(env) == 0 {
			if st, err := startTime(pid); err == nil && st >= since {
				unsure = true
			}
			continue
		}
		for kv := range bytes.SplitSeq(env, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, prefix); ok {
				if want[string(v)] {
					out[string(v)] = append(out[string(v)], pid)
				}
				break // the first definition is the one getenv sees
			}
		}
	}
	return out, unsure
}
