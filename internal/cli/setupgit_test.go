package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hfbroker/hfbroker/internal/client"
)

// gitHome makes a temporary HOME the place of git's global config, and no
// system config, for this test.
func gitHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("GIT_CONFIG_GLOBAL", "")
	os.Unsetenv("GIT_CONFIG_GLOBAL") // t.Setenv restores it
	return home
}

// gitConfigFile reads key from file, every value of it.
func gitConfigFile(t *testing.T, file, key string) []string {
	t.Helper()
	out, err := exec.Command("git", "config", "--file", file, "--get-all", key).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 {
			return nil // no such key
		}
		t.Fatalf("git config --file %s --get-all %s: %v", file, key, err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
}

func setupGitOpts(io *IOStreams, env map[string]string) *SetupGitOptions {
	return &SetupGitOptions{IO: io, Endpoint: hubEndpoint, Env: func(k string) string { return env[k] },
		Executable: "/opt/hfbroker/bin/hfbroker"}
}

// setup-git writes, for the Hub's URL only, an empty helper (dropping the
// plaintext 'store' inherited for the host), then hfbroker, and useHttpPath;
// run again it changes nothing; --uninstall removes exactly its settings.
func TestSetupGitRunWritesTheHubsHelperAndUninstallRemovesIt(t *testing.T) {
	home := gitHome(t)
	gitconfig := filepath.Join(home, ".gitconfig")
	// Someone else's settings, which setup-git must keep.
	if err := os.WriteFile(gitconfig, []byte("[credential]\n\thelper = store\n[user]\n\tname = Alice\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const helperKey = "credential.https://huggingface.co.helper"
	const pathKey = "credential.https://huggingface.co.usehttppath"
	for run := range 2 {
		io, out, _ := testIO()
		if err := setupGitRun(context.Background(), setupGitOpts(io, nil)); err != nil {
			t.Fatalf("run %d: %v", run+1, err)
		}
		if got := gitConfigFile(t, gitconfig, helperKey); len(got) != 2 || got[0] != "" || got[1] != "!'/opt/hfbroker/bin/hfbroker' git-credential" {
			t.Fatalf("run %d: %s = %q, want \"\" then hfbroker", run+1, helperKey, got)
		}
		if got := gitConfigFile(t, gitconfig, pathKey); len(got) != 1 || got[0] != "true" {
			t.Fatalf("run %d: %s = %q, want true", run+1, pathKey, got)
		}
		if want := "git now asks hfbroker for https://huggingface.co credentials (global config)\n"; out.String() != want {
			t.Errorf("run %d: stdout = %q, want %q", run+1, out, want)
		}
	}

	io, out, _ := testIO()
	opts := setupGitOpts(io, nil)
	opts.Uninstall = true
	if err := setupGitRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if got := gitConfigFile(t, gitconfig, helperKey); got != nil {
		t.Errorf("after --uninstall %s = %q", helperKey, got)
	}
	if got := gitConfigFile(t, gitconfig, pathKey); got != nil {
		t.Errorf("after --uninstall %s = %q", pathKey, got)
	}
	if got := gitConfigFile(t, gitconfig, "credential.helper"); len(got) != 1 || got[0] != "store" {
		t.Errorf("someone else's credential.helper = %q, want store kept", got)
	}
	if got := gitConfigFile(t, gitconfig, "user.name"); len(got) != 1 || got[0] != "Alice" {
		t.Errorf("user.name = %q, want Alice kept", got)
	}
	if !strings.HasPrefix(out.String(), "Removed hfbroker's git credential settings for https://huggingface.co (global)") {
		t.Errorf("stdout = %q", out)
	}
}

// Inside 'hfbroker ssh' (its forward and git's session config set),
// setup-git says that this session's git goes through the forwarded proxy.
func TestSetupGitRunInAnSSHSessionSaysGitUsesTheForward(t *testing.T) {
	gitHome(t)
	io, out, _ := testIO()
	env := map[string]string{client.ForwardEnv: "laptop", "GIT_CONFIG_COUNT": "3"}
	if err := setupGitRun(context.Background(), setupGitOpts(io, env)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "through the proxy forwarded from laptop") {
		t.Errorf("stdout = %q", out)
	}
}

// A path git's shell could not take quoted is refused before git is run.
func TestSetupGitRunRefusesAnExecutableItCannotQuote(t *testing.T) {
	home := gitHome(t)
	io, _, _ := testIO()
	opts := setupGitOpts(io, nil)
	opts.Executable = "/opt/it's/hfbroker"
	if err := setupGitRun(context.Background(), opts); err == nil {
		t.Fatal("a path with a quote was written into git's config")
	}
	if _, err := os.Stat(filepath.Join(home, ".gitconfig")); !os.IsNotExist(err) {
		t.Errorf("~/.gitconfig was written: %v", err)
	}
}
