package gitcred

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hfbroker/hfbroker/internal/gittest"
)

// gitCredentialFill runs the real `git credential fill` with helper as the
// only credential helper and returns git's output.
func gitCredentialFill(t *testing.T, helper, input string, config ...string) (string, error) {
	t.Helper()
	args := []string{"-c", "credential.helper=", "-c", "credential.helper=" + helper}
	for _, c := range config {
		args = append(args, "-c", c)
	}
	cmd := exec.Command(gittest.LookGit(t), append(args, "credential", "fill")...)
	cmd.Env = gittest.CleanEnv(t.TempDir())
	cmd.Stdin = strings.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		t.Logf("git credential fill: %v\n%s", err, stderr.String())
	}
	return stdout.String(), err
}

// What the installed git really sends a helper, Parse reads, and Match routes.
func TestParseReadsWhatRealGitSends(t *testing.T) {
	tests := []struct {
		name     string
		url      string
		config   []string
		wantRepo string // "" when git sends no path
	}{
		{"without useHttpPath git sends no path", "https://huggingface.co/datasets/acme/data.git", nil, ""},
		{"with useHttpPath git sends the dataset path", "https://huggingface.co/datasets/acme/data.git",
			[]string{"credential.useHttpPath=true"}, "dataset:acme/data"},
		{"with useHttpPath an LFS batch URL routes to its repo", "https://HuggingFace.co:443/acme/llm.git/info/lfs/objects/batch",
			[]string{"credential.useHttpPath=true"}, "model:acme/llm"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dump := filepath.Join(t.TempDir(), "request")
			// The helper records its stdin and answers nothing; git then
			// fails to fill, which does not matter here.
			_, _ = gitCredentialFill(t, "!f() { cat > '"+dump+"'; }; f", "url="+tc.url+"\n\n", tc.config...)
			raw, err := os.ReadFile(dump)
			if err != nil {
				t.Fatalf("the helper did not run: %v", err)
			}
			req, err := Parse(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("Parse(%q) = %v", raw, err)
			}
			got, err := Match(req, hfEndpoint)
			if err != nil {
				t.Fatalf("Match(%q) = %v", raw, err)
			}
			switch {
			case tc.wantRepo == "" && got.Repo != nil:
				t.Fatalf("repo = %v, want none", got.Repo)
			case tc.wantRepo != "" && (got.Repo == nil || got.Repo.String() != tc.wantRepo):
				t.Fatalf("repo = %v, want %s (request %q)", got.Repo, tc.wantRepo, raw)
			}
		})
	}
}

// What WriteAnswer emits, the installed git accepts as the credential.
func TestRealGitAcceptsWriteAnswerOutput(t *testing.T) {
	var answer bytes.Buffer
	expiry := time.Now().Add(time.Hour).Truncate(time.Second)
	if err := WriteAnswer(&answer, Answer{Username: "hf_user", Password: secretValue, PasswordExpiry: expiry}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "answer")
	if err := os.WriteFile(file, answer.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := gitCredentialFill(t, "!f() { cat >/dev/null; cat '"+file+"'; }; f", "protocol=https\nhost=huggingface.co\n\n")
	if err != nil {
		t.Fatalf("git credential fill: %v", err)
	}
	for _, want := range []string{"username=hf_user\n", "password=" + secretValue + "\n", "host=huggingface.co\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("git's filled credential lacks %q", want)
		}
	}
}
