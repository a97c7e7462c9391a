// Command gitfloor is the floor under hfbroker as git's credential helper for
// any Go program (issue 16): the runtime's start-up, git's request read to its
// blank line, and for `get` an answer of the username and password read
// from the file $GITFLOOR_CREDENTIALS names (two lines).
// It asks no daemon and keeps nothing. git runs a helper twice per operation
// (`get`, then `store` or `erase`), so BenchmarkGitLsRemote's third arm,
// `git ls-remote` with this helper against git's `store` helper, is what any
// Go helper costs there. It links nothing but syscall.
package main

import "syscall"

func main() {
	op := lastArg()
	drain()
	if op != "get" {
		syscall.Exit(0)
	}
	path, _ := syscall.Getenv("GITFLOOR_CREDENTIALS")
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		syscall.Exit(1)
	}
	var b [512]byte
	n, _ := syscall.Read(fd, b[:])
	syscall.Close(fd)
	user, pass := lines(b[:max(n, 0)])
	syscall.Write(1, []byte("username="+user+"\npassword="+pass+"\n"))
	syscall.Exit(0)
}

// lastArg is the last word of /proc/self/cmdline (os.Args would link os).
func lastArg() string {
	fd, err := syscall.Open("/proc/self/cmdline", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	var b [4096]byte
	n, _ := syscall.Read(fd, b[:])
	syscall.Close(fd)
	if n <= 1 {
		return ""
	}
	s := b[:n-1] // the last NUL
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == 0 {
			return string(s[i+1:])
		}
	}
	return string(s)
}

// drain reads git's request up to its blank line (or the end).
func drain() {
	var b [4096]byte
	var last byte = '\n'
	for {
		n, err := syscall.Read(0, b[:])
		if n <= 0 || err != nil {
			return
		}
		for _, c := range b[:n] {
			if c == '\n' && last == '\n' {
				return
			}
			last = c
		}
	}
}

func lines(b []byte) (string, string) {
	for i, c := range b {
		if c == '\n' {
			rest := b[i+1:]
			for j, d := range rest {
				if d == '\n' {
					rest = rest[:j]
					break
				}
			}
			return string(b[:i]), string(rest)
		}
	}
	return string(b), ""
}
