package cli

import (
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func commandNames(root *cobra.Command) []string {
	var names []string
	for _, c := range root.Commands() {
		names = append(names, c.Name())
	}
	return names
}

// Issue 16: every hfbroker process built every command (and its flags)
// before running one; `hfbroker token`, which git runs twice per operation,
// now builds only its own.
func TestRunBuildsOnlyTheNamedCommand(t *testing.T) {
	f := NewFactory(strings.NewReader(""), io.Discard, io.Discard)
	full := NewRootCmd(f)
	if len(full.Commands()) < 10 {
		t.Fatalf("the full tree has %d commands", len(full.Commands()))
	}
	for _, c := range full.Commands() {
		if c.Name() == "completion" {
			continue // cobra's own: it needs the whole tree to complete
		}
		for _, name := range append([]string{c.Name()}, c.Aliases...) {
			root := newRootCmdFor(f, []string{name, "x"})
			if got := commandNames(root); !slices.Equal(got, []string{c.Name()}) {
				t.Errorf("hfbroker %s built %q, want only %q", name, got, c.Name())
			}
			if root.Commands()[0].Use != c.Use {
				t.Errorf("hfbroker %s built a command used as %q, want %q", name, root.Commands()[0].Use, c.Use)
			}
		}
	}
}

// Help, completion and mistakes need the whole tree: help lists the
// commands, completion offers them, and an unknown command's error suggests
// the nearest.
func TestRunBuildsTheWholeTreeForHelpCompletionAndUnknownCommands(t *testing.T) {
	f := NewFactory(strings.NewReader(""), io.Discard, io.Discard)
	want := len(NewRootCmd(f).Commands())
	for _, args := range [][]string{
		nil,
		{"--version"},
		{"help", "token"},
		{"token", "--help"},
		{"exec", "-h"},
		{cobra.ShellCompRequestCmd, "tok"},
		{cobra.ShellCompNoDescRequestCmd, "tok"},
		{"completion", "bash"},
		{"tokn"},
		{""},
	} {
		if got := len(newRootCmdFor(f, args).Commands()); got != want {
			t.Errorf("hfbroker %q built %d commands, want all %d", args, got, want)
		}
	}
	// After --, -h is the child's argument, not a request for help.
	if got := commandNames(newRootCmdFor(f, []string{"exec", "--", "ls", "-h"})); !slices.Equal(got, []string{"exec"}) {
		t.Errorf("hfbroker exec -- ls -h built %q, want only exec", got)
	}
}

func TestUnknownCommandStillSuggestsTheNearest(t *testing.T) {
	f, out, errOut := usageFactory(t)
	if code := Run(f, []string{"tokn"}); code != ExitUsage {
		t.Fatalf("exit %d, want %d", code, ExitUsage)
	}
	if !strings.Contains(errOut.String(), `unknown command "tokn"`) || !strings.Contains(errOut.String(), "token") || out.Len() != 0 {
		t.Fatalf("stdout %q stderr %q", out, errOut)
	}
}

// The root builds a command by the names the list gives it; a name that
// drifted from its command's would build the whole tree again, or none.
func TestCommandListNamesEachCommand(t *testing.T) {
	f := NewFactory(strings.NewReader(""), io.Discard, io.Discard)
	seen := map[string]bool{}
	for _, c := range commands() {
		cmd := c.build(f)
		want := append([]string{cmd.Name()}, cmd.Aliases...)
		if !slices.Equal(c.names, want) {
			t.Errorf("the list names %q, the command answers to %q", c.names, want)
		}
		for _, n := range c.names {
			if seen[n] {
				t.Errorf("two commands answer to %q", n)
			}
			seen[n] = true
		}
	}
}
