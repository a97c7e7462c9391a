//go:build unix

package main

import (
	"os"
	"path/filepath"

	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
	extraCmds["hub-file"] = cmdHubFile
	extraCmds["hfjs-module"] = cmdHFJSModule
}

// hub-file REPO PATH CONTENT: put a file on the fake Hub's repo.
// ! hub-file... is not allowed; hub-file-is checks one.
func cmdHubFile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: hub-file REPO PATH CONTENT")
	}
	if !neg {
		scriptHub(ts).AddFile(args[0], args[1], []byte(args[2]))
		return
	}
	// ! hub-file REPO PATH CONTENT: the repo does not hold that file with
	// that content.
	if b, ok := scriptHub(ts).File(args[0], args[1]); ok && string(b) == args[2] {
		ts.Fatalf("%s holds %s with %q", args[0], args[1], args[2])
	}
}

// hfjs-module VAR: set $VAR to huggingface.js (@huggingface/hub), which .ci/run
// installs into the repository's .tools/ (npm install --prefix .tools). The
// story fails, never skips, without it.
func cmdHFJSModule(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: hfjs-module VAR")
	}
	wd, err := os.Getwd() // the package directory, cmd/hfbroker
	if err != nil {
		ts.Fatalf("%v", err)
	}
	mod := filepath.Join(wd, "..", "..", ".tools", "node_modules", "@huggingface", "hub", "dist", "index.mjs")
	if _, err := os.Stat(mod); err != nil {
		ts.Fatalf("@huggingface/hub is not installed: run 'npm install --prefix .tools @huggingface/hub' (as .ci/run does): %v", err)
	}
	ts.Setenv(args[0], mod)
}
