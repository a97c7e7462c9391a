//go:build unix

package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/rogpeppe/go-internal/testscript"
)

// The front end's stories (testdata/script/front-*.txtar, issue 16) need a
// front that cannot hand over, to show what it answers alone, and git
// requests of any size.
func init() {
	extraCmds["solo-front"] = cmdSoloFront
	extraCmds["pad-request"] = cmdPadRequest
}

// solo-front DIR: DIR/hfbroker is the front end with no full CLI beside it,
// so whatever it hands over fails, naming hfbroker-cli.
func cmdSoloFront(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: solo-front DIR")
	}
	self, err := os.Executable()
	ts.Check(err)
	dir := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(dir, 0o755))
	dst := filepath.Join(dir, "hfbroker")
	if os.Link(self, dst) == nil {
		return
	}
	in, err := os.Open(self)
	ts.Check(err)
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	ts.Check(err)
	_, err = io.Copy(out, in)
	ts.Check(err)
	ts.Check(out.Close())
}

// pad-request FILE N: add an attribute of N bytes to the git credential
// request in FILE, before its blank line.
func cmdPadRequest(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: pad-request FILE N")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	p := ts.MkAbs(args[0])
	b, err := os.ReadFile(p)
	ts.Check(err)
	b = bytes.TrimSuffix(b, []byte("\n\n"))
	b = append(b, "\nwwwauth[]=Basic realm=\""...)
	b = append(b, bytes.Repeat([]byte("x"), n)...)
	b = append(b, "\"\n\n"...)
	ts.Check(os.WriteFile(p, b, 0o600))
}
