package osproc

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hfbroker/hfbroker/internal/testutil"
)

// connectEnv makes the re-executed test binary connect to the unix socket it
// names, write one byte, and wait for its stdin to close before it exits.
const connectEnv = "HFB_OSPROC_TEST_CONNECT"

func TestMain(m *testing.M) {
	if path := os.Getenv(connectEnv); path != "" {
		c, err := net.Dial("unix", path)
		if err != nil {
			os.Exit(3)
		}
		c.Write([]byte{1})
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// connectedChild starts a child that connects to a fresh socket, and
// returns the server's end, the child, and the pipe that ends it when
// closed.
func connectedChild(t *testing.T) (*net.UnixConn, *exec.Cmd, io.Closer) {
	t.Helper()
	dir, err := os.MkdirTemp("", "hfbp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "s"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), connectEnv+"="+filepath.Join(dir, "s"))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	c, err := l.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	return c, cmd, stdin
}

// peerPidfd reads c's SO_PEERPIDFD: it must work on Linux 6.5+; -1 on an
// older kernel.
func peerPidfd(t *testing.T, c *net.UnixConn) int {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd, ferr := -1, error(nil)
	if err := raw.Control(func(s uintptr) { fd, ferr = PeerPidfd(int(s)) }); err != nil {
		t.Fatal(err)
	}
	if ferr != nil {
		if kernelAtLeast(t, 6, 5) {
			t.Fatalf("SO_PEERPIDFD on Linux 6.5+: %v", ferr)
		}
		return -1
	}
	return fd
}

// kernelAtLeast reports whether the running kernel is major.minor or later.
func kernelAtLeast(t *testing.T, major, minor int) bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var ma, mi int
	rel := unix.ByteSliceToString(u.Release[:])
	for i, part := range [2]*int{&ma, &mi} {
		j := 0
		for j < len(rel) && rel[j] >= '0' && rel[j] <= '9' {
			j++
		}
		*part, _ = strconv.Atoi(rel[:j])
		if i == 0 && j < len(rel) {
			rel = rel[j+1:]
		}
	}
	return ma > major || (ma == major && mi >= minor)
}

// A Peer is the process that connected, read once: its start time, exe and
// cwd are /proc's for that process, and once the process has exited it is
// not alive, and a first read after the exit fails rather than read
// whatever holds the pid then. Both ways: a pidfd from SO_PEERPIDFD (Linux
// 6.5+), and the pid with its start time (older kernels).
func TestAPeerIsTheProcessThatConnected(t *testing.T) {
	c, cmd, stdin := connectedChild(t)
	pid := cmd.Process.Pid
	fd := peerPidfd(t, c)
	var tab Table
	want, err := tab.StartTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	second := -1
	if fd >= 0 {
		if second, err = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0); err != nil {
			t.Fatal(err)
		}
	}
	ways := map[string][2]*Peer{
		"pidfd":      {NewPeer(pid, fd), NewPeer(pid, second)},
		"start time": {NewPeer(pid, -1), NewPeer(pid, -1)},
	}
	if fd < 0 {
		delete(ways, "pidfd")
	}
	for name, w := range ways {
		read := w[0]
		t.Cleanup(read.Close)
		t.Cleanup(w[1].Close)
		start, exe, cwd, err := read.Info()
		if err != nil || start != want || exe != tab.Exe(pid) || cwd != tab.Cwd(pid) {
			t.Fatalf("%s: Info = %d, %q, %q, %v; want %d, %q, %q", name, start, exe, cwd, err, want, tab.Exe(pid), tab.Cwd(pid))
		}
		if !read.Alive() {
			t.Fatalf("%s: a running peer is not alive", name)
		}
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	for name, w := range ways {
		if w[0].Alive() {
			t.Errorf("%s: the peer that exited is alive", name)
		}
		if _, _, _, err := w[1].Info(); err == nil {
			t.Errorf("%s: a first Info after the peer exited succeeded", name)
		}
	}
}

// The pid of a connection's process is reused after that process exits:
// the Peer must not take the new process for its own. Before SO_PEERPIDFD,
// a first read after the reuse cannot tell (the fallback's known limit); a
// pidfd can, and a start time read before the exit can.
func TestAPeerIsNotTheProcessThatReusedItsPid(t *testing.T) {
	testutil.RequireRoot(t, "to choose the next pid (/proc/sys/kernel/ns_last_pid)")
	c, cmd, stdin := connectedChild(t)
	pid := cmd.Process.Pid
	fd := peerPidfd(t, c)
	unread := NewPeer(pid, fd) // first read after the reuse: needs the pidfd
	defer unread.Close()
	read := NewPeer(pid, -1) // read before the exit: its start time tells
	defer read.Close()
	if _, _, _, err := read.Info(); err != nil {
		t.Fatal(err)
	}
	readFD := NewPeer(pid, -1) // read before the exit, with a pidfd: the pidfd tells
	if fd >= 0 {
		dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		readFD = NewPeer(pid, dup)
	}
	defer readFD.Close()
	if _, _, _, err := readFD.Info(); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	// Hand the pid to another process: the kernel gives out ns_last_pid+1
	// next, unless another fork on the machine takes it first.
	var other *exec.Cmd
	for range 200 {
		if err := os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(pid-1)), 0); err != nil {
			t.Fatalf("set the next pid: %v", err)
		}
		cmd := exec.Command("sleep", "60")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if cmd.Process.Pid == pid {
			other = cmd
			break
		}
		cmd.Process.Kill()
		cmd.Wait()
	}
	if other == nil {
		t.Fatalf("pid %d was not reused in 200 tries", pid)
	}
	defer func() { other.Process.Kill(); other.Wait() }()
	if _, err := (Table{}).StartTime(pid); err != nil {
		t.Fatalf("pid %d names no process: %v", pid, err)
	}
	if read.Alive() {
		t.Error("a peer read before it exited is alive once its pid is another process's")
	}
	if readFD.Alive() {
		t.Error("a peer with a pidfd, read before it exited, is alive once its pid is another process's")
	}
	if fd >= 0 {
		if _, _, _, err := unread.Info(); err == nil {
			t.Error("a peer with a pidfd read the process that reused its pid")
		}
		if unread.Alive() {
			t.Error("a peer with a pidfd is alive once its pid is another process's")
		}
	}
}
