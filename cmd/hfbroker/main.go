//go:build unix

// The hfbroker command keeps Hugging Face tokens out of plaintext: it talks
// to the hfbrokerd daemon, which holds them in the OS keychain, and hands
// each job the right one.
//
// This binary is the front end (internal/front): it answers `hfbroker
// token`, git's credential helper and `hfbroker exec` itself, near Go's
// start-up floor, and executes the full CLI (cmd/hfbroker-cli) for the rest.
// It links no os (cmd/hfbroker/deps_test.go): hence syscall.Exit.
package main

import (
	"syscall"

	"github.com/hfbroker/hfbroker/internal/front"
)

func main() {
	syscall.Exit(front.Run())
}
