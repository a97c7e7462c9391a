package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hfbroker/hfbroker/internal/client"
)

// usageFactory is a Factory for commands that must fail before they dial:
// dialing fails the test.
func usageFactory(t *testing.T) (*Factory, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	dir := t.TempDir()
	env := map[string]string{
		"HOME":            dir,
		"XDG_CONFIG_HOME": filepath.Join(dir, "config"),
		"XDG_STATE_HOME":  filepath.Join(dir, "state"),
		"XDG_DATA_HOME":   filepath.Join(dir, "data"),
		"XDG_RUNTIME_DIR": filepath.Join(dir, "run"),
	}
	var out, errOut bytes.Buffer
	f := &Factory{
		IO:  &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut, InFd: -1},
		Env: func(k string) string { return env[k] },
		Daemon: func(context.Context) (Daemon, error) {
			t.Error("a malformed argument reached the daemon")
			return nil, &client.UnreachableError{}
		},
	}
	return f, &out, &errOut
}

// Issue 19: `hfbroker token --repo bad` exited 1, as if the broker had
// failed; a malformed argument is a usage error (exit 2), told in one line
// with a hint, before any daemon is asked.
func TestMalformedArgumentsAreUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		hint string // substring of the hint line
	}{
		{"token with a repo that has no namespace", []string{"token", "--repo", "bad"}, "NAMESPACE/NAME"},
		{"token with a repo with a .. in it", []string{"token", "--repo", "acme/../x"}, "NAMESPACE/NAME"},
		{"token with an unknown repo prefix", []string{"token", "--repo", "buckets/acme/x"}, "NAMESPACE/NAME"},
		{"token with a repo of four parts", []string{"token", "--repo", "datasets/acme/x/y"}, "NAMESPACE/NAME"},
		{"token with an unknown --type", []string{"token", "--repo", "acme/x", "--type", "bucket"}, "--type model, dataset or space"},
		{"token with a --type that contradicts the prefix", []string{"token", "--repo", "datasets/acme/x", "--type", "space"}, "drop --type"},
		{"token with --type and no repo", []string{"token", "--type", "dataset"}, "--repo"},
		{"token with --write and no repo", []string{"token", "--write"}, "--repo"},
		{"token with a ttl flag it does not have", []string{"token", "--ttl", "5m"}, "--help"},
		{"token with a profile name no profile can have", []string{"token", "--profile", "../x"}, "hfbroker list"},
		{"exec with a profile name with a space", []string{"exec", "--profile", "a b", "--", "true"}, "hfbroker list"},
		{"whoami with a profile name with a slash", []string{"whoami", "a/b"}, "hfbroker list"},
		{"switch to an empty profile name", []string{"switch", ""}, "hfbroker list"},
		{"logout of a profile name too long to be one", []string{"logout", strings.Repeat("a", 65)}, "hfbroker list"},
		{"audit of a profile name with a control character", []string{"audit", "--profile", "a\x1b"}, "hfbroker list"},
		{"exec with a malformed repo", []string{"exec", "--repo", "bad", "--", "true"}, "NAMESPACE/NAME"},
		{"exec with a ttl that is no duration", []string{"exec", "--ttl", "soon", "--", "true"}, "--help"},
		{"exec with a negative ttl", []string{"exec", "--ttl", "-5m", "--", "true"}, "positive"},
		{"doctor with a malformed repo", []string{"doctor", "acme"}, "NAMESPACE/NAME"},
		{"doctor with a repo ending in .git", []string{"doctor", "acme/llm.git"}, "NAMESPACE/NAME"},
		{"doctor with --write and no repo", []string{"doctor", "--write"}, "hfbroker doctor acme/llm --write"},
		{"doctor with an unknown --type", []string{"doctor", "acme/llm", "--type", "models"}, "--type model, dataset or space"},
		{"leases revoke with a path for an id", []string{"leases", "revoke", "../l-1"}, "hfbroker leases"},
		{"leases revoke with an empty id", []string{"leases", "revoke", ""}, "hfbroker leases"},
		{"leases revoke with a huge id", []string{"leases", "revoke", strings.Repeat("a", 65)}, "hfbroker leases"},
		{"leases revoke with no id", []string{"leases", "revoke"}, "--help"},
		{"git-credential with no operation", []string{"git-credential"}, "--help"},
		{"audit with a since that is no time", []string{"audit", "--since", "last week"}, "yesterday"},
		{"audit with an empty since", []string{"audit", "--since", ""}, "yesterday"},
		{"audit with an empty repo", []string{"audit", "--repo="}, "--help"},
		{"token with an empty repo", []string{"token", "--repo", ""}, "--help"},
		{"exec with an empty profile", []string{"exec", "--profile=", "--", "true"}, "--help"},
		{"doctor with an empty repo", []string{"doctor", ""}, "NAMESPACE/NAME"},
		{"audit with a malformed repo", []string{"audit", "--repo", "bad"}, "NAMESPACE/NAME"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, out, errOut := usageFactory(t)
			if code := Run(f, tc.args); code != ExitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, ExitUsage, errOut)
			}
			if out.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", out)
			}
			lines := strings.Split(strings.TrimSuffix(errOut.String(), "\n"), "\n")
			if len(lines) != 2 || !strings.HasPrefix(lines[0], "hfbroker: error: ") || !strings.HasPrefix(lines[1], "hfbroker: hint: ") {
				t.Fatalf("stderr is not one error line and one hint line:\n%s", errOut)
			}
			if !strings.Contains(lines[1], tc.hint) {
				t.Errorf("hint %q does not mention %q", lines[1], tc.hint)
			}
		})
	}
}
