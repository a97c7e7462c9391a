package front

import (
	"bytes"
	"strings"
	"syscall"
)

// The front links no os (cmd/hfbroker/deps_test.go): os's initialisation,
// and fmt, net/url and crypto/sha256 that each pull it in, cost it about
// 0.2x of an empty Go program's start-up, as much as the rest of its work
// (docs/benchmarks-analysis.md, round 7). So on Linux it reads its
// arguments and its path where os does, in /proc.

// Args is the process's argv, as os.Args has it: /proc/self/cmdline.
func Args() ([]string, error) {
	b, err := readProc("/proc/self/cmdline", maxArgs)
	if err != nil {
		return nil, err
	}
	var args []string
	for len(b) > 0 {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			i = len(b) // a last argument without its NUL
		}
		args = append(args, string(b[:i]))
		b = b[min(i+1, len(b)):]
	}
	return args, nil
}

// maxArgs bounds what Args reads: more than any argv execve takes (a
// quarter of an unlimited stack).
const maxArgs = 1 << 30

// executable is os.Executable on Linux: the link /proc/self/exe, without
// the " (deleted)" the kernel adds once the file is gone (an upgrade in
// place), so that the full CLI is looked for beside the new file.
func executable() (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := syscall.Readlink("/proc/self/exe", buf)
		if err != nil {
			return "", err
		}
		if n < len(buf) {
			return strings.TrimSuffix(string(buf[:n]), " (deleted)"), nil
		}
		buf = make([]byte, 2*len(buf))
	}
}

// dupAbove2 is fcntl(fd, F_DUPFD, 3): a copy of fd numbered 3 or above.
func dupAbove2(fd int) (int, error) {
	r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD, 3)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

// readProc reads a /proc file whole (they report no size), up to limit.
func readProc(path string, limit int) ([]byte, error) {
	fd, err := openFile(path, syscall.O_RDONLY|syscall.O_CLOEXEC)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	b := make([]byte, 0, 4096)
	for {
		if len(b) == cap(b) {
			if len(b) >= limit {
				return nil, syscall.E2BIG
			}
			b = append(b, 0)[:len(b)]
		}
		n, err := syscall.Read(fd, b[len(b):cap(b)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return b, nil
		}
		b = b[:len(b)+n]
	}
}

// dupTo is dup2, which Linux on arm64 has only as dup3.
func dupTo(fd, to int) error { return syscall.Dup3(fd, to, 0) }
