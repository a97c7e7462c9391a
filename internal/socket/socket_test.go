//go:build unix

package socket

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hfbroker/hfbroker/internal/testutil"
)

// childModeEnv makes the re-executed test binary run a helper instead of the
// tests; see runChild.
const childModeEnv = "HFB_SOCKET_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childModeEnv); mode != "" {
		os.Exit(runChild(mode))
	}
	goleak.VerifyTestMain(m)
}

// waitLong bounds waits that normally take milliseconds. It is generous so a
// loaded 2-core machine never flakes; hitting it means a real hang.
const waitLong = 20 * time.Second

// shortDir returns a fresh directory with a short path, because t.TempDir
// names can push socket paths past 104 bytes (tailscale/tailscale#19706).
func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "hfbs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// requireRoot skips when not root, unless HFBROKER_TEST_REQUIRE_ROOT=1 says
// this run must cover the cross-user cases (CI runs as root).
func requireRoot(t *testing.T) {
	t.Helper()
	testutil.RequireRoot(t, "to create files owned by another uid")
}

func mustListen(t *testing.T, path string) *Listener {
	t.Helper()
	l, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen(%s): %v", path, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// staleSocket leaves a socket file at path with nothing listening, as a
// daemon killed with SIGKILL would.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// serveEcho answers one line per connection until l is closed.
func serveEcho(l net.Listener) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			line, _ := bufio.NewReader(c).ReadString('\n')
			fmt.Fprintf(c, "echo %s", line)
			c.Close()
		}
	}()
	return &wg
}

func roundTrip(t *testing.T, path string) string {
	t.Helper()
	c, err := net.DialTimeout("unix", path, waitLong)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLong))
	fmt.Fprintf(c, "ping\n")
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read from %s: %v", path, err)
	}
	return string(b)
}

func TestDefaultPath(t *testing.T) {
	uid := os.Getuid()
	tmp := shortDir(t)

	goodXDG := filepath.Join(shortDir(t), "run")
	if err := os.Mkdir(goodXDG, 0o700); err != nil {
		t.Fatal(err)
	}
	looseXDG := filepath.Join(shortDir(t), "run")
	if err := os.Mkdir(looseXDG, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chmod(looseXDG, 0o755)
	symlinkXDG := filepath.Join(shortDir(t), "link")
	if err := os.Symlink(goodXDG, symlinkXDG); err != nil {
		t.Fatal(err)
	}
	fallback := filepath.Join(tmp, "hfbroker-"+strconv.Itoa(uid), SocketName)

	tests := []struct {
		name     string
		override string
		xdg      string
		want     string
		wantErr  error
	}{
		{name: "HFBROKER_SOCKET wins over everything", override: "/x/y.sock", xdg: goodXDG, want: "/x/y.sock"},
		{name: "a private XDG_RUNTIME_DIR holds the socket", xdg: goodXDG, want: filepath.Join(goodXDG, "hfbroker", SocketName)},
		{name: "no XDG_RUNTIME_DIR falls back to the temp dir", want: fallback},
		{name: "a 0755 XDG_RUNTIME_DIR is skipped", xdg: looseXDG, want: fallback},
		{name: "a symlinked XDG_RUNTIME_DIR is skipped", xdg: symlinkXDG, want: fallback},
		{name: "a relative XDG_RUNTIME_DIR is skipped", xdg: "run/user", want: fallback},
		{name: "a missing XDG_RUNTIME_DIR is skipped", xdg: filepath.Join(tmp, "nope"), want: fallback},
		{name: "a too long HFBROKER_SOCKET is an error", override: "/" + strings.Repeat("a", 110) + ".sock", wantErr: ErrPathTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvSocket, tc.override)
			t.Setenv("XDG_RUNTIME_DIR", tc.xdg)
			t.Setenv("TMPDIR", tmp)
			got, err := DefaultPath()
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("DefaultPath() = %q, %v; want error %v", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("DefaultPath() = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestDefaultPathRejectsRelativeOverride(t *testing.T) {
	t.Setenv(EnvSocket, "rel/hfb.sock")
	if p, err := DefaultPath(); err == nil || !strings.Contains(err.Error(), EnvSocket) {
		t.Fatalf("DefaultPath() = %q, %v; want an error naming %s", p, err, EnvSocket)
	}
}

func TestDefaultPathSkipsXDGOwnedByAnotherUser(t *testing.T) {
	requireRoot(t)
	tmp := shortDir(t)
	xdg := filepath.Join(shortDir(t), "run")
	if err := os.Mkdir(xdg, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(xdg, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvSocket, "")
	t.Setenv("XDG_RUNTIME_DIR", xdg)
	t.Setenv("TMPDIR", tmp)
	got, err := DefaultPath()
	if err != nil || !strings.HasPrefix(got, tmp+"/") {
		t.Fatalf("DefaultPath() = %q, %v; want the temp-dir fallback under %s", got, err, tmp)
	}
}

func TestTooLongPathIsRefusedWithAHint(t *testing.T) {
	long := filepath.Join(shortDir(t), strings.Repeat("d", 100), SocketName)
	_, err := Listen(long)
	if !errors.Is(err, ErrPathTooLong) {
		t.Fatalf("Listen(long) error = %v; want ErrPathTooLong", err)
	}
	if !strings.Contains(err.Error(), EnvSocket) {
		t.Errorf("error %q does not name %s as the fix", err, EnvSocket)
	}
	if _, statErr := os.Stat(filepath.Dir(long)); !errors.Is(statErr, fs.ErrNotExist) {
		t.Errorf("Listen created %s for a path it refused", filepath.Dir(long))
	}
	// 103 bytes is the longest path that fits.
	if err := CheckPathLen("/" + strings.Repeat("a", 102)); err != nil {
		t.Errorf("CheckPathLen(103 bytes) = %v; want nil", err)
	}
	if err := CheckPathLen("/" + strings.Repeat("a", 103)); !errors.Is(err, ErrPathTooLong) {
		t.Errorf("CheckPathLen(104 bytes) = %v; want ErrPathTooLong", err)
	}
}

func TestPrepareDirCreatesAPrivateDirectory(t *testing.T) {
	dir := filepath.Join(shortDir(t), "a", "b")
	if err := PrepareDir(dir); err != nil {
		t.Fatalf("PrepareDir: %v", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("%s: mode %v; want a 0700 directory", dir, fi.Mode())
	}
	if err := PrepareDir(dir); err != nil {
		t.Fatalf("PrepareDir on its own directory again: %v", err)
	}
}

func TestPrepareDirRefusesUnsafeDirectories(t *testing.T) {
	tests := []struct {
		name     string
		root     bool
		setup    func(t *testing.T, dir string)
		wantText string
	}{
		{
			name: "a pre-existing 0755 directory is refused and left as it was",
			setup: func(t *testing.T, dir string) {
				os.Mkdir(dir, 0o755)
				os.Chmod(dir, 0o755)
			},
			wantText: "chmod 0700",
		},
		{
			name: "a group-writable directory is refused",
			setup: func(t *testing.T, dir string) {
				os.Mkdir(dir, 0o700)
				os.Chmod(dir, 0o720)
			},
			wantText: "chmod 0700",
		},
		{
			name: "a symlink to a private directory is refused",
			setup: func(t *testing.T, dir string) {
				target := dir + "-target"
				os.Mkdir(target, 0o700)
				if err := os.Symlink(target, dir); err != nil {
					t.Fatal(err)
				}
			},
			wantText: "symlink",
		},
		{
			name: "a regular file where the directory should be is refused",
			setup: func(t *testing.T, dir string) {
				os.WriteFile(dir, []byte("x"), 0o600)
			},
			wantText: "not a directory",
		},
		{
			name: "a directory owned by another uid is refused",
			root: true,
			setup: func(t *testing.T, dir string) {
				os.Mkdir(dir, 0o700)
				if err := os.Chown(dir, 65534, 65534); err != nil {
					t.Fatal(err)
				}
			},
			wantText: "owned by uid 65534",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root {
				requireRoot(t)
			}
			dir := filepath.Join(shortDir(t), "sock")
			tc.setup(t, dir)
			before, _ := os.Lstat(dir)

			err := PrepareDir(dir)
			if !errors.Is(err, ErrUnsafeDir) || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("PrepareDir = %v; want ErrUnsafeDir mentioning %q", err, tc.wantText)
			}
			after, _ := os.Lstat(dir)
			if before.Mode() != after.Mode() {
				t.Errorf("PrepareDir changed %s from %v to %v; it must never fix up a directory it refuses", dir, before.Mode(), after.Mode())
			}
			// Listen must refuse the same directory.
			if _, err := Listen(filepath.Join(dir, SocketName)); !errors.Is(err, ErrUnsafeDir) {
				t.Errorf("Listen in that directory = %v; want ErrUnsafeDir", err)
			}
		})
	}
}

func TestListenServesOnA0600Socket(t *testing.T) {
	path := filepath.Join(shortDir(t), "run", SocketName)
	l := mustListen(t, path)
	if l.Path() != path {
		t.Errorf("Path() = %q; want %q", l.Path(), path)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v; want a 0600 socket", fi.Mode())
	}
	wg := serveEcho(l)
	if got := roundTrip(t, path); got != "echo ping\n" {
		t.Errorf("round trip = %q", got)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket still exists after Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close = %v; want the first result (nil)", err)
	}
	// The lock was released: a new daemon can start.
	mustListen(t, path).Close()
}

func TestListenNeverRemovesWhatIsNotAStaleSocket(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, path string)
		wantErr error
	}{
		{
			name: "a regular file at the socket path is kept",
			setup: func(t *testing.T, path string) {
				os.WriteFile(path, []byte("precious"), 0o600)
			},
			wantErr: ErrNotSocket,
		},
		{
			name: "a symlink at the socket path is kept, and so is its target",
			setup: func(t *testing.T, path string) {
				target := filepath.Join(filepath.Dir(path), "target")
				os.WriteFile(target, []byte("precious"), 0o600)
				os.Symlink(target, path)
			},
			wantErr: ErrNotSocket,
		},
		{
			name: "a symlink to a live socket is kept",
			setup: func(t *testing.T, path string) {
				target := filepath.Join(filepath.Dir(path), "live.sock")
				l, err := net.Listen("unix", target)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { l.Close() })
				os.Symlink(target, path)
			},
			wantErr: ErrNotSocket,
		},
		{
			name: "a live socket from a daemon that took no lock is kept",
			setup: func(t *testing.T, path string) {
				l, err := net.Listen("unix", path)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { l.Close() })
			},
			wantErr: ErrAlreadyRunning,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(shortDir(t), "run")
			if err := PrepareDir(dir); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, SocketName)
			tc.setup(t, path)
			before, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}

			l, err := Listen(path)
			if err == nil {
				l.Close()
				t.Fatal("Listen succeeded; want a refusal")
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Listen error = %v; want %v", err, tc.wantErr)
			}
			after, err := os.Lstat(path)
			if err != nil {
				t.Fatalf("Listen removed %s: %v", path, err)
			}
			if !os.SameFile(before, after) {
				t.Fatalf("Listen replaced %s", path)
			}
			if target, err := os.Readlink(path); err == nil {
				if _, err := os.Stat(target); err != nil {
					t.Errorf("symlink target %s is gone: %v", target, err)
				}
			}
			// The lock was released on failure, so a later start can succeed
			// once the obstacle is gone.
			os.Remove(path)
			mustListen(t, path).Close()
		})
	}
}

func TestLiveDaemonSocketIsNotRemoved(t *testing.T) {
	path := filepath.Join(shortDir(t), "run", SocketName)
	first := mustListen(t, path)
	wg := serveEcho(first)
	ino := inode(t, path)

	_, err := Listen(path)
	if !errors.Is(err, ErrAlreadyRunning) || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second Listen = %v; want ErrAlreadyRunning", err)
	}
	if inode(t, path) != ino {
		t.Fatal("second Listen replaced the live socket")
	}
	if got := roundTrip(t, path); got != "echo ping\n" {
		t.Errorf("first daemon no longer serves: %q", got)
	}
	first.Close()
	wg.Wait()
}

func TestStaleSocketIsReplaced(t *testing.T) {
	dir := filepath.Join(shortDir(t), "run")
	if err := PrepareDir(dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, SocketName)
	staleSocket(t, path)
	if _, err := net.Dial("unix", path); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("setup: dialing the stale socket gave %v; want ECONNREFUSED", err)
	}

	l := mustListen(t, path)
	wg := serveEcho(l)
	if got := roundTrip(t, path); got != "echo ping\n" {
		t.Errorf("round trip = %q", got)
	}
	l.Close()
	wg.Wait()
}

func TestConcurrentListenHasExactlyOneWinner(t *testing.T) {
	path := filepath.Join(shortDir(t), "run", SocketName)
	for i := range 20 {
		var (
			start = make(chan struct{})
			wg    sync.WaitGroup
			ls    [2]*Listener
			errs  [2]error
		)
		for j := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ls[j], errs[j] = Listen(path)
			}()
		}
		close(start)
		wg.Wait()
		winners := 0
		for j := range 2 {
			switch {
			case errs[j] == nil:
				winners++
			case !errors.Is(errs[j], ErrAlreadyRunning):
				t.Errorf("round %d: loser got %v; want ErrAlreadyRunning", i, errs[j])
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d winners (errors %v, %v); want exactly 1", i, winners, errs[0], errs[1])
		}
		for _, l := range ls {
			if l != nil {
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// TestConcurrentProcessesHaveExactlyOneWinner races two separate processes,
// the shape of two hfbrokerd started at once (security-notes §5 item 22).
// flock is what makes this work across processes; the 20-round in-process
// race above covers the interleavings, so a few rounds suffice here (each
// spawn costs up to a second on a loaded machine).
func TestConcurrentProcessesHaveExactlyOneWinner(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(shortDir(t), "run", SocketName)
	for i := range 3 {
		type child struct {
			cmd   *exec.Cmd
			stdin io.WriteCloser
			out   *bufio.Reader
		}
		var kids [2]child
		for j := range kids {
			cmd := exec.Command(exe, "-test.run=^$")
			cmd.Env = append(os.Environ(), childModeEnv+"=listen", "HFB_SOCKET_TEST_PATH="+path)
			cmd.Stderr = os.Stderr
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			kids[j] = child{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
		}
		for j := range kids {
			if err := kids[j].cmd.Start(); err != nil {
				t.Fatal(err)
			}
		}
		// Each child reports, then holds its listener until its stdin closes,
		// so the winner still holds the lock while the loser tries.
		results := make([]string, 2)
		for j := range kids {
			line, err := kids[j].out.ReadString('\n')
			if err != nil {
				t.Fatalf("round %d: child %d: %v", i, j, err)
			}
			results[j] = strings.TrimSpace(line)
		}
		for j := range kids {
			kids[j].stdin.Close()
			if err := kids[j].cmd.Wait(); err != nil {
				t.Fatalf("round %d: child %d: %v", i, j, err)
			}
		}
		won := 0
		for _, r := range results {
			switch r {
			case "won":
				won++
			case "already running":
			default:
				t.Fatalf("round %d: unexpected child result %q", i, r)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: results %q; want exactly one winner", i, results)
		}
		if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("round %d: the winner's Close left the socket behind", i)
		}
	}
}

func TestWatchReportsRemoval(t *testing.T) {
	path := filepath.Join(shortDir(t), "run", SocketName)
	l := mustListen(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := l.Watch(ctx, 5*time.Millisecond)

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ch:
		if !errors.Is(err, ErrSocketRemoved) {
			t.Fatalf("Watch reported %v; want ErrSocketRemoved", err)
		}
	case <-time.After(waitLong):
		t.Fatal("Watch did not report the removed socket")
	}
	if _, open := <-ch; open {
		t.Error("Watch channel not closed after its report")
	}
}

func TestWatchReportsReplacement(t *testing.T) {
	path := filepath.Join(shortDir(t), "run", SocketName)
	l := mustListen(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := l.Watch(ctx, 5*time.Millisecond)

	// Rename a fresh socket over ours: the path never stops existing, so
	// only the inode comparison can notice.
	other := filepath.Join(filepath.Dir(path), "other.sock")
	staleSocket(t, other)
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ch:
		if !errors.Is(err, ErrSocketReplaced) {
			t.Fatalf("Watch reported %v; want ErrSocketReplaced", err)
		}
	case <-time.After(waitLong):
		t.Fatal("Watch did not report the replaced socket")
	}
	// Close must not unlink a socket that is no longer ours.
	ino := inode(t, path)
	l.Close()
	if _, err := os.Lstat(path); err != nil || inode(t, path) != ino {
		t.Fatalf("Close removed a socket that was not ours: %v", err)
	}
}

func TestWatchStaysQuietWhileTheSocketIsOursAndEndsOnClose(t *testing.T) {
	path := filepath.Join(shortDir(t), "run", SocketName)
	l := mustListen(t, path)
	ch := l.Watch(context.Background(), time.Millisecond)
	// Let it tick many times on an intact socket.
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-ch:
		t.Fatalf("Watch reported %v on an intact socket", err)
	default:
	}
	l.Close() // unlinks the socket; must not be reported as a removal
	select {
	case err, open := <-ch:
		if open {
			t.Fatalf("Watch reported %v after our own Close", err)
		}
	case <-time.After(waitLong):
		t.Fatal("Watch did not end after Close")
	}
}

func TestWatchEndsWhenContextIsDone(t *testing.T) {
	l := mustListen(t, filepath.Join(shortDir(t), "run", SocketName))
	ctx, cancel := context.WithCancel(context.Background())
	ch := l.Watch(ctx, 0)
	cancel()
	select {
	case err, open := <-ch:
		if open {
			t.Fatalf("Watch reported %v after cancel", err)
		}
	case <-time.After(waitLong):
		t.Fatal("Watch did not end after cancel")
	}
}

func TestFromSystemdWithoutActivationFindsNothing(t *testing.T) {
	tests := []struct {
		name string
		pid  string
		fds  string
	}{
		{name: "no LISTEN_PID means no activation"},
		{name: "a LISTEN_PID for another process is ignored", pid: "1", fds: "1"},
		{name: "LISTEN_FDS=0 means no sockets", pid: strconv.Itoa(os.Getpid()), fds: "0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.pid != "" {
				t.Setenv("LISTEN_PID", tc.pid)
				t.Setenv("LISTEN_FDS", tc.fds)
			} else {
				t.Setenv("LISTEN_PID", "")
				os.Unsetenv("LISTEN_PID")
			}
			l, ok, err := FromSystemd()
			if l != nil || ok || err != nil {
				t.Fatalf("FromSystemd() = %v, %v, %v; want nil, false, nil", l, ok, err)
			}
			if _, set := os.LookupEnv("LISTEN_PID"); set {
				t.Error("LISTEN_PID still set after FromSystemd")
			}
		})
	}
}

// TestFromSystemdServesAnInheritedSocket passes a real listening socket to a
// child as fd 3, the way systemd does. LISTEN_PID must be the child's own
// pid, which the parent cannot know before the child starts, so the parent
// sets HFB_TEST_LISTEN_FDS=1 and the child sets LISTEN_PID=os.Getpid() and
// LISTEN_FDS itself before calling FromSystemd (see runChild).
func TestFromSystemdServesAnInheritedSocket(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(shortDir(t), "act.sock")
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ul.SetUnlinkOnClose(false) // the child serves it after we close our copy
	f, err := ul.File()
	if err != nil {
		t.Fatal(err)
	}
	ul.Close()

	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childModeEnv+"=systemd", "HFB_TEST_LISTEN_FDS=1")
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	got := roundTrip(t, path)
	want := fmt.Sprintf("pid %d: echo ping\n", cmd.Process.Pid)
	if got != want {
		t.Errorf("reply = %q; want %q", got, want)
	}
	report, _ := io.ReadAll(stdout)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v; output %q", err, report)
	}
	if string(report) != "ok\n" {
		t.Errorf("child report = %q", report)
	}
}

// runChild is the re-executed test binary's entry point.
func runChild(mode string) int {
	switch mode {
	case "listen":
		l, err := Listen(os.Getenv("HFB_SOCKET_TEST_PATH"))
		switch {
		case err == nil:
			fmt.Println("won")
		case errors.Is(err, ErrAlreadyRunning):
			fmt.Println("already running")
		default:
			fmt.Println("error:", err)
		}
		io.Copy(io.Discard, os.Stdin) // hold the lock until the parent says stop
		if l != nil {
			if err := l.Close(); err != nil {
				fmt.Fprintln(os.Stderr, "close:", err)
				return 1
			}
		}
		return 0

	case "systemd":
		if os.Getenv("HFB_TEST_LISTEN_FDS") != "" {
			os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
			os.Setenv("LISTEN_FDS", os.Getenv("HFB_TEST_LISTEN_FDS"))
			os.Setenv("LISTEN_FDNAMES", "hfbrokerd.socket")
		}
		l, ok, err := FromSystemd()
		if err != nil || !ok {
			fmt.Println("FromSystemd:", ok, err)
			return 1
		}
		for _, k := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
			if _, set := os.LookupEnv(k); set {
				fmt.Println(k, "still set")
				return 1
			}
		}
		c, err := l.Accept()
		if err != nil {
			fmt.Println("accept:", err)
			return 1
		}
		line, _ := bufio.NewReader(c).ReadString('\n')
		fmt.Fprintf(c, "pid %d: echo %s", os.Getpid(), line)
		c.Close()
		l.Close()
		fmt.Println("ok")
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown child mode", mode)
	return 2
}

// Issue 16: an idle daemon sleeps. On Linux the kernel reports the removal
// (inotify), so Watch needs no poll: with a poll interval far longer than
// the test, the removal is still reported.
func TestWatchReportsRemovalWithoutPolling(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("inotify is Linux's")
	}
	path := filepath.Join(shortDir(t), "run", SocketName)
	l := mustListen(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := l.Watch(ctx, time.Hour)

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ch:
		if !errors.Is(err, ErrSocketRemoved) {
			t.Fatalf("Watch reported %v; want ErrSocketRemoved", err)
		}
	case <-time.After(waitLong):
		t.Fatal("Watch polled: the removal went unreported within", waitLong)
	}
}
