package cli

import (
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// walkCommands calls fn for root and every command under it.
func walkCommands(root *cobra.Command, fn func(*cobra.Command)) {
	fn(root)
	for _, c := range root.Commands() {
		walkCommands(c, fn)
	}
}

// exempt are the commands the tree test does not hold to hfbroker's
// standards: cobra's own help and completion commands (their text is
// cobra's), and the hidden commands only programs call (jupyter kernel,
// which Jupyter runs; cobra's __complete).
func exempt(c *cobra.Command) bool {
	for p := c; p != nil; p = p.Parent() {
		if p.Hidden || p.Name() == "help" || p.Name() == "completion" || strings.HasPrefix(p.Name(), "__") {
			return true
		}
	}
	return false
}

var kebab = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// listing are the commands that list things, and so have --json: scripts
// read their output.
var listing = map[string]bool{
	"hfbroker list":         true,
	"hfbroker leases":       true,
	"hfbroker audit":        true,
	"hfbroker status":       true,
	"hfbroker whoami":       true,
	"hfbroker doctor":       true,
	"hfbroker scan":         true,
	"hfbroker version":      true,
	"hfbroker config show":  true,
	"hfbroker jupyter list": true,
}

// Issue 13: every command a person runs says what it does in one line,
// shows an example, names its flags in kebab-case, and, when it lists
// things, can print them as JSON.
func TestEveryCommandHasAShortAnExampleKebabFlagsAndJSONWhereItLists(t *testing.T) {
	root := NewRootCmd(NewFactory(strings.NewReader(""), io.Discard, io.Discard))
	seen := map[string]bool{}
	walkCommands(root, func(c *cobra.Command) {
		if exempt(c) {
			return
		}
		path := c.CommandPath()
		seen[path] = true
		if strings.TrimSpace(c.Short) == "" {
			t.Errorf("%s has no Short", path)
		}
		if c != root && strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s has no Example", path)
		}
		c.LocalFlags().VisitAll(func(fl *pflag.Flag) {
			if !kebab.MatchString(fl.Name) {
				t.Errorf("%s --%s is not kebab-case", path, fl.Name)
			}
			if strings.TrimSpace(fl.Usage) == "" {
				t.Errorf("%s --%s has no usage text", path, fl.Name)
			}
		})
		if listing[path] && c.Flags().Lookup("json") == nil {
			t.Errorf("%s lists things and has no --json", path)
		}
	})
	for path := range listing {
		if !seen[path] {
			t.Errorf("%s is listed as listing things but is not in the tree", path)
		}
	}
}
