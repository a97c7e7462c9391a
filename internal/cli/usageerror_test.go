package cli

import (
	"errors"
	"strings"
	"testing"
)

// Issue 13: a usage error was recognised by matching cobra's English
// ("unknown flag", "accepts ", "requires at least", …), so a reworded cobra
// message or a command's own error that happened to contain one of those
// words changed the exit code. Every mistake cobra finds now arrives as a
// *UsageError, and exit 2 and the hint come from that type.
func TestCobraUsageMistakesArriveAsUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"an unknown command", []string{"tokn"}},
		{"an argument where the root takes none", []string{"--version", "extra"}},
		{"an unknown command with a flag after it", []string{"tokn", "--json"}},
		{"an unknown flag", []string{"token", "--ttl", "5m"}},
		{"an unknown shorthand flag", []string{"status", "-z"}},
		{"a flag without its value", []string{"token", "--profile"}},
		{"a flag value that does not parse", []string{"exec", "--ttl", "soon", "--", "true"}},
		{"an argument where the command takes none", []string{"status", "extra"}},
		{"an argument where a command group takes none", []string{"leases", "extra"}},
		{"too many arguments", []string{"switch", "a", "b"}},
		{"too few arguments", []string{"leases", "revoke"}},
		{"no arguments where one is needed", []string{"ssh"}},
		{"two flags that do not go together", []string{"token", "--profile", "a", "--repo", "acme/x"}},
		{"a required flag missing", []string{"migrate"}},
		{"an argument to cobra's completion command", []string{"completion", "fish", "extra"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, _, _ := usageFactory(t)
			root := newRootCmdFor(f, tc.args)
			root.SetIn(f.IO.In)
			root.SetOut(f.IO.Out)
			root.SetErr(f.IO.ErrOut)
			cmd, err := execute(root, tc.args)
			ue, ok := errors.AsType[*UsageError](err)
			if !ok {
				t.Fatalf("error %v (%T) is not a *UsageError", err, err)
			}
			if hint := ue.Hint(cmd); !strings.Contains(hint, "--help") {
				t.Errorf("hint %q names no --help", hint)
			}
		})
	}
}

// The exit code follows the type, not the words: a command's own error
// that reads like cobra's is not a usage error.
func TestAnErrorThatReadsLikeCobrasIsNotAUsageError(t *testing.T) {
	f, _, errOut := usageFactory(t)
	if code := reportError(errOut, NewRootCmd(f), errors.New(`hub says: unknown flag "x", requires at least a token`)); code != ExitError {
		t.Errorf("exit %d, want %d", code, ExitError)
	}
	if code := reportError(errOut, NewRootCmd(f), &UsageError{errors.New("anything at all")}); code != ExitUsage {
		t.Errorf("exit %d, want %d", code, ExitUsage)
	}
}

// The unknown command is found before the flags are parsed, as cobra finds
// it: `hfbroker tokn --json` is a typo of a command, and says so.
func TestAnUnknownCommandWithFlagsStillSuggestsTheNearest(t *testing.T) {
	f, out, errOut := usageFactory(t)
	if code := Run(f, []string{"tokn", "--repo", "acme/llm"}); code != ExitUsage {
		t.Fatalf("exit %d, want %d", code, ExitUsage)
	}
	if !strings.Contains(errOut.String(), `unknown command "tokn"`) || !strings.Contains(errOut.String(), "token") || out.Len() != 0 {
		t.Fatalf("stdout %q stderr %q", out, errOut)
	}
}
