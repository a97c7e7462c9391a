//go:build unix

package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// Issue 15: a real sshd on a loopback port, for `hfbroker ssh`. The
// "remote" is this machine under a second HOME and runtime directory, with
// no daemon and no Secret Service.
func init() {
	extraCmds["sshd-start"] = cmdSSHDStart
	extraCmds["wait-glob"] = cmdWaitGlob
}

// wait-glob VAR GLOB: wait (up to 30 s) until a non-empty file matches
// GLOB, and set $VAR to it: the event a script waits on when a background
// command (an ssh forward) makes a file, or writes its exit code to one.
func cmdWaitGlob(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: wait-glob VAR GLOB")
	}
	for range 1500 {
		m, err := filepath.Glob(ts.MkAbs(args[1]))
		ts.Check(err)
		for _, f := range m {
			// A socket has size 0: it counts once it exists.
			if st, err := os.Stat(f); err == nil && (st.Size() > 0 || st.Mode()&os.ModeSocket != 0) {
				ts.Setenv(args[0], f)
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("no file matches %s within 30 s", args[1])
}

// sshd-start: start sshd (Debian's openssh-server) on a free loopback port
// with its own host key, config and an authorized user key. It sets
// $SSHPORT, $SSHCFG (an ssh client config to pass with -F), $RHOME (the
// remote's HOME, short enough for a socket path) and $HFB (hfbroker's path,
// since the remote shell's PATH does not hold it; $HFBDIR its directory).
func cmdSSHDStart(ts *testscript.TestScript, neg bool, args []string) {
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/sshd"); serr != nil {
			ts.Fatalf("sshd not installed: apt-get install openssh-server (.ci/run does)")
		}
		sshd = "/usr/sbin/sshd"
	}
	if os.Getuid() != 0 {
		ts.Fatalf("sshd-start needs root (CI runs as root)")
	}
	dir, err := os.MkdirTemp("", "hfbssh")
	ts.Check(err)
	ts.Defer(func() { os.RemoveAll(dir) })
	run := func(name string, a ...string) {
		out, err := exec.Command(name, a...).CombinedOutput()
		if err != nil {
			ts.Fatalf("%s %v: %v\n%s", name, a, err, out)
		}
	}
	run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, "hostkey"))
	run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, "userkey"))
	pub, err := os.ReadFile(filepath.Join(dir, "userkey.pub"))
	ts.Check(err)
	ts.Check(os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600))
	// sshd wants its privilege separation directory.
	ts.Check(os.MkdirAll("/run/sshd", 0o755))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s/hostkey
PidFile none
AuthorizedKeysFile %s/authorized_keys
PermitRootLogin yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
StreamLocalBindUnlink yes
LogLevel ERROR
`, port, dir, dir)
	ts.Check(os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(cfg), 0o600))
	client := fmt.Sprintf(`Host *
  Port %d
  User root
  IdentityFile %s/userkey
  IdentitiesOnly yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  BatchMode yes
  LogLevel ERROR
`, port, dir)
	ts.Check(os.WriteFile(filepath.Join(dir, "ssh_config"), []byte(client), 0o600))
	cmd := exec.Command(sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	logf, err := os.Create(filepath.Join(dir, "sshd.log"))
	ts.Check(err)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	ts.Check(cmd.Start())
	ts.Defer(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		cmd.Wait()
		logf.Close()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "sshd.log"))
			ts.Fatalf("sshd did not listen: %s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	rhome := filepath.Join(dir, "r")
	ts.Check(os.MkdirAll(filepath.Join(rhome, "run"), 0o700))
	hfb, err := lookPathIn("hfbroker", ts.Getenv("PATH"))
	ts.Check(err)
	ts.Setenv("SSHPORT", fmt.Sprint(port))
	ts.Setenv("SSHCFG", filepath.Join(dir, "ssh_config"))
	ts.Setenv("RHOME", rhome)
	ts.Setenv("HFB", hfb)
	ts.Setenv("HFBDIR", filepath.Dir(hfb)) // for a remote PATH that finds hfbroker
	// A copy of the raw client that uid 65534 may run.
	raw, err := lookPathIn("hfb-rawclient", ts.Getenv("PATH"))
	ts.Check(err)
	pubDir := filepath.Join(dir, "pub")
	ts.Check(os.MkdirAll(pubDir, 0o755))
	ts.Check(os.Chmod(dir, 0o711))
	b, err := os.ReadFile(raw)
	ts.Check(err)
	ts.Check(os.WriteFile(filepath.Join(pubDir, "hfb-rawclient"), b, 0o755))
	ts.Setenv("HFB_RAW", filepath.Join(pubDir, "hfb-rawclient"))
	ts.Setenv("SSHDLOG", filepath.Join(dir, "sshd.log"))
}

func lookPathIn(name, path string) (string, error) {
	for _, d := range filepath.SplitList(path) {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not on PATH", name)
}
