//go:build !unix

// The hfbroker command keeps Hugging Face tokens out of plaintext. Where
// there is no execve to hand over to the full CLI, it is the full CLI.
package main

import (
	"os"

	"github.com/hfbroker/hfbroker/internal/cli"
)

func main() {
	os.Exit(cli.Main(cli.Args(os.Args), os.Stdin, os.Stdout, os.Stderr))
}
