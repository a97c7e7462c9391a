package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitfloor answers `get` with the file's two lines and `store` with
// nothing, reading git's request either way, as a helper git starts with
// `sh -c '<helper> get'` must.
func TestGitfloorAnswersGetAndSwallowsStore(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "gitfloor")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	answer := filepath.Join(dir, "answer")
	if err := os.WriteFile(answer, []byte("hf_user\nhf_secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(op, request string) string {
		t.Helper()
		cmd := exec.Command("sh", "-c", "'"+bin+"' "+op)
		cmd.Env = append(os.Environ(), "GITFLOOR_CREDENTIALS="+answer)
		cmd.Stdin = strings.NewReader(request)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		return string(out)
	}
	if got, want := run("get", "protocol=http\nhost=127.0.0.1:8080\n\n"), "username=hf_user\npassword=hf_secret\n"; got != want {
		t.Errorf("get answered %q, want %q", got, want)
	}
	if got := run("store", "protocol=http\nhost=127.0.0.1:8080\nusername=hf_user\npassword=hf_secret\n\n"); got != "" {
		t.Errorf("store answered %q, want nothing", got)
	}
	if got := run("erase", "protocol=http\n"); got != "" { // no blank line: git closed stdin
		t.Errorf("erase answered %q, want nothing", got)
	}
}
