// Command keyringget reads one item with zalando/go-keyring and exits: the
// "one-shot go-keyring read" baseline of scripts/bench. It prints only the
// secret's length, never the secret.
//
// Usage: keyringget -service hfbroker -user NAME
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/zalando/go-keyring"
)

func main() {
	service := flag.String("service", "hfbroker", "keychain service")
	user := flag.String("user", "", "keychain user (the hfbroker profile name)")
	flag.Parse()
	s, err := keyring.Get(*service, *user)
	if err != nil {
		fmt.Fprintf(os.Stderr, "keyringget: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(len(s))
}
