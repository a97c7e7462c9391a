//go:build unix

package main

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/zalando/go-keyring"
)

// Script commands for the import-*.txtar and scan-*.txtar scripts.
func init() {
	for name, cmd := range map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"expand-file":     cmdExpandFile,
		"hub-host":        cmdHubHost,
		"notebook-cells":  cmdNotebookCells,
		"keychain-forget": cmdKeychainForget,
	} {
		extraCmds[name] = cmd
	}
}

var braceVar = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expand-file SRC DST: copy SRC to DST (mode 0600, parent directories
// created) with every ${NAME} replaced by $NAME's value, so fixture files can
// hold the fake Hub's tokens without the script's text holding them. Only the
// braced form is expanded, so JSON and shell text pass through untouched; an
// unset or empty variable is an error, not a silent blank.
func cmdExpandFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: expand-file SRC DST")
	}
	src, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	out := braceVar.ReplaceAllFunc(src, func(m []byte) []byte {
		name := string(braceVar.FindSubmatch(m)[1])
		v := ts.Getenv(name)
		if v == "" {
			ts.Fatalf("expand-file %s: $%s is empty", args[0], name)
		}
		return []byte(v)
	})
	dst := ts.MkAbs(args[1])
	ts.Check(os.MkdirAll(filepath.Dir(dst), 0o700))
	ts.Check(os.WriteFile(dst, out, 0o600))
}

// hub-host VAR: set $VAR to the fake Hub's host:port, the host git stores
// credentials under.
func cmdHubHost(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: hub-host VAR")
	}
	u, err := url.Parse(ts.Getenv("HF_ENDPOINT"))
	ts.Check(err)
	ts.Setenv(args[0], u.Host)
}

// notebook-cells FILE N: FILE parses as JSON and is a notebook with N cells.
func cmdNotebookCells(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: notebook-cells FILE N")
	}
	data, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	var nb struct {
		Cells []json.RawMessage `json:"cells"`
	}
	if err := json.Unmarshal(data, &nb); err != nil {
		ts.Fatalf("%s is not valid JSON: %v", args[0], err)
	}
	if got := strconv.Itoa(len(nb.Cells)); got != args[1] {
		ts.Fatalf("%s has %s cells, want %s", args[0], got, args[1])
	}
}

// keychain-forget NAME...: when the script runs against the real Secret
// Service, delete these profiles' items when it ends (the standard cast's
// names are deleted by setupWorld already).
func cmdKeychainForget(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: keychain-forget NAME...")
	}
	if ts.Getenv("HFBROKER_BACKEND") != "keychain" {
		return
	}
	service := ts.Getenv("HFBROKER_KEYCHAIN_SERVICE")
	if service == "" {
		service = "hfbroker"
	}
	names := append([]string(nil), args...)
	ts.Defer(func() {
		for _, n := range names {
			keyring.Delete(service, n)
		}
	})
}
