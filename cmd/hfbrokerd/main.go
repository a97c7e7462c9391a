// The hfbrokerd command is hfbroker's per-user daemon: it alone touches the
// token store, and serves leases on a unix socket to processes of its own uid.
package main

import (
	"os"

	"github.com/hfbroker/hfbroker/internal/daemon"
)

func main() {
	os.Exit(daemon.Main(os.Args[1:], os.Stdout, os.Stderr))
}
