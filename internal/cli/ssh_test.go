package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hfbroker/hfbroker/internal/gittest"
)

// Issue 15: the environment hfbroker ssh gives a remote session points
// git, as the remote's shell reads it, at the forwarded proxy for the Hub's
// URLs, with hfbroker's helper (found on PATH) alone answering for the
// proxy: a helper from the user's ~/.gitconfig is neither asked nor told.
func TestGitProxyEnvPointsTheSessionsGitAtTheForwardedPort(t *testing.T) {
	git := gittest.LookGit(t)
	home := t.TempDir()
	bin := filepath.Join(home, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	marker := func(name string) string { return filepath.Join(home, name) }
	fake := "#!/bin/sh\necho \"$@\" >> " + shellQuote(marker("hfbroker-asked")) + "\ncat >/dev/null\n[ \"$2\" = get ] && printf 'username=hf_user\\npassword=hf_lease\\n'\n"
	if err := os.WriteFile(filepath.Join(bin, "hfbroker"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	gitconfig := "[credential]\n\thelper = !echo >> " + shellQuote(marker("store-asked")) + "\n"
	if err := os.WriteFile(filepath.Join(home, ".gitconfig"), []byte(gitconfig), 0o644); err != nil {
		t.Fatal(err)
	}
	env := strings.Join(gitProxyEnv("https://huggingface.co/", 12345), " ")
	run := func(stdin string, args ...string) string {
		t.Helper()
		q := make([]string, len(args))
		for i, a := range args {
			q[i] = shellQuote(a)
		}
		cmd := exec.Command("sh", "-c", "exec env "+env+" "+shellQuote(git)+" "+strings.Join(q, " "))
		cmd.Env = gittest.CleanEnv(home)
		for i, kv := range cmd.Env {
			if strings.HasPrefix(kv, "PATH=") {
				cmd.Env[i] = "PATH=" + bin + ":" + kv[len("PATH="):]
			}
		}
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	// ls-remote --get-url applies insteadOf without connecting.
	if got := run("", "ls-remote", "--get-url", "https://huggingface.co/acme/llm"); got != "http://127.0.0.1:12345/acme/llm\n" {
		t.Errorf("the Hub's URL is rewritten to %q, want the forwarded port", got)
	}
	if got := run("", "ls-remote", "--get-url", "https://github.com/acme/llm"); got != "https://github.com/acme/llm\n" {
		t.Errorf("another host's URL is rewritten to %q", got)
	}
	got := run("protocol=http\nhost=127.0.0.1:12345\npath=acme/llm.git/info/refs\n\n", "credential", "fill")
	if !strings.Contains(got, "password=hf_lease\n") || !strings.Contains(got, "path=acme/llm.git") {
		t.Errorf("git credential fill for the proxy = %q, want hfbroker's answer for the repo's path", got)
	}
	run("protocol=http\nhost=127.0.0.1:12345\npath=acme/llm.git\nusername=hf_user\npassword=hf_lease\n\n", "credential", "approve")
	asked, _ := os.ReadFile(marker("hfbroker-asked"))
	if string(asked) != "git-credential get\ngit-credential store\n" {
		t.Errorf("hfbroker's helper was run with %q, want get then store", asked)
	}
	if _, err := os.Stat(marker("store-asked")); err == nil {
		t.Errorf("the user's own helper was asked for, or told, the proxy's lease token")
	}
}

// `hfbroker ssh HOST -N` hung silently: the short ssh call that prepares the
// remote's socket directory got -N too, ran no command and waited forever.
// It gets every option but those about the session; the session's own
// ssh gets them all (sshRun passes opts.SSHArgs unchanged).
func TestSSHPrepareGetsNoSessionOptionsSoDashNDoesNotHang(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		prepare []string
		flags   sshFlags
	}{
		{args: []string{"-N"}, flags: sshFlags{noCommand: true}},
		{args: []string{"-N", "-p", "2222", "-i", "k", "-J", "jump", "-l", "me", "-F", "cfg", "-o", "User=x"},
			prepare: []string{"-p", "2222", "-i", "k", "-J", "jump", "-l", "me", "-F", "cfg", "-o", "User=x"}, flags: sshFlags{noCommand: true}},
		{args: []string{"-NTp2222", "-v"}, prepare: []string{"-p", "2222", "-v"}, flags: sshFlags{noCommand: true}},
		{args: []string{"-tt", "-4", "-L", "8888:localhost:8888", "-R8000:x:80"},
			prepare: []string{"-4", "-L", "8888:localhost:8888", "-R", "8000:x:80"}},
		{args: []string{"-fN"}, flags: sshFlags{noCommand: true, fork: true}},
		{args: []string{"-W", "h:22", "-q"}, prepare: []string{"-q"}, flags: sshFlags{stdio: true}},
		{args: []string{"-oSessionType=none", "-o", "ForkAfterAuthentication yes", "-o", "RequestTTY=force", "-oPort=22"},
			prepare: []string{"-o", "Port=22"}, flags: sshFlags{noCommand: true, fork: true}},
		{args: []string{"-o", "SessionType=default", "-o", "forkafterauthentication=no"}},
		// -N as an option's argument is no -N; a word that is no option
		// ends them, as in ssh.
		{args: []string{"-l", "-N", "-p"}, prepare: []string{"-l", "-N", "-p"}},
		{args: []string{"-n", "word", "-N"}, prepare: []string{"-n", "word", "-N"}},
	} {
		got := parseSSHArgs(tc.args)
		want := tc.flags
		want.prepare = tc.prepare
		if strings.Join(got.prepare, "\x00") != strings.Join(want.prepare, "\x00") || got.noCommand != want.noCommand ||
			got.fork != want.fork || got.stdio != want.stdio {
			t.Errorf("parseSSHArgs(%q) = %+v, want %+v", tc.args, got, want)
		}
	}
}
