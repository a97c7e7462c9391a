package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

var update = flag.Bool("update", false, "rewrite the testdata/help/*.golden files from the commands' --help")

// Issue 13: each command's --help is a golden file, so a change to what
// people read is a change a reviewer sees. Run `go test ./internal/cli -run
// TestHelpIsGolden -update` to rewrite them after a deliberate change.
// cobra's own help and completion commands are left out: their text is
// cobra's.
func TestHelpIsGolden(t *testing.T) {
	full := NewRootCmd(NewFactory(strings.NewReader(""), nil, nil))
	var paths [][]string
	walkCommands(full, func(c *cobra.Command) {
		for p := c; p != nil; p = p.Parent() {
			if p.Name() == "help" || p.Name() == "completion" || strings.HasPrefix(p.Name(), "__") {
				return
			}
		}
		paths = append(paths, strings.Fields(c.CommandPath())[1:])
	})
	seen := map[string]bool{}
	for _, path := range paths {
		name := strings.Join(append([]string{"hfbroker"}, path...), "_")
		seen[name+".golden"] = true
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			f := NewFactory(strings.NewReader(""), &out, &errOut)
			if code := Run(f, append(path, "--help")); code != ExitOK {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			if errOut.Len() != 0 {
				t.Errorf("stderr: %s", errOut.String())
			}
			golden := filepath.Join("testdata", "help", name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got := out.String(); got != string(want) {
				t.Errorf("hfbroker %s --help changed (run with -update if that is meant):\n--- got\n%s\n--- want\n%s", strings.Join(path, " "), got, want)
			}
		})
	}
	// A golden file for a command that is gone is a stale promise.
	files, _ := filepath.Glob(filepath.Join("testdata", "help", "*.golden"))
	for _, file := range files {
		if !seen[filepath.Base(file)] {
			if *update {
				os.Remove(file)
				continue
			}
			t.Errorf("%s is the help of no command", file)
		}
	}
}
