// The hfbroker-cli command is hfbroker's full command line (internal/cli).
// People run `hfbroker`, a small front end (internal/front) that answers the
// hot commands itself and executes this binary, installed beside it or in
// ../libexec/hfbroker/, for everything else (issue 16).
package main

import (
	"os"

	"github.com/hfbroker/hfbroker/internal/cli"
)

func main() {
	os.Exit(cli.Main(cli.Args(os.Args), os.Stdin, os.Stdout, os.Stderr))
}
