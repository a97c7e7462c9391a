// The hfbroker command keeps Hugging Face tokens out of plaintext: it talks
// to the hfbrokerd daemon, which holds them in the OS keychain, and hands
// each job the right one.
package main

import (
	"os"

	"github.com/hfbroker/hfbroker/internal/cli"
)

func main() {
	os.Exit(cli.Main(cli.Args(os.Args), os.Stdin, os.Stdout, os.Stderr))
}
