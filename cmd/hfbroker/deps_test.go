package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCLIDoesNotLinkTheTokenStore keeps the keychain, the file vault and the
// daemon's internals out of the CLI binary: the CLI talks only to the daemon
// (ARCHITECTURE.md), so a bug in it cannot reach the token store directly,
// and it stays small, which is start-up time on every command. It also
// keeps gRPC and net/http out: the CLI calls the daemon over the local lane
// (internal/lane), and a gRPC client's start-up alone cost every command
// about 4 ms (docs/BENCHMARKS.md).
func TestCLIDoesNotLinkTheTokenStore(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "grpcnotrace", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string]bool{}
	for _, d := range strings.Fields(string(out)) {
		deps[d] = true
	}
	for _, bad := range []string{
		"github.com/zalando/go-keyring",
		"github.com/godbus/dbus/v5",
		"filippo.io/age",
		"github.com/kardianos/service",
		"github.com/hfbroker/hfbroker/internal/keystore",
		"github.com/hfbroker/hfbroker/internal/daemon",
		"github.com/hfbroker/hfbroker/internal/broker",
		"github.com/hfbroker/hfbroker/internal/server",
		"github.com/hfbroker/hfbroker/internal/proxy",
		"google.golang.org/grpc",
		"golang.org/x/net/http2",
		"net/http",
	} {
		if deps[bad] {
			t.Errorf("the hfbroker CLI links %s", bad)
		}
	}
	if !deps["github.com/hfbroker/hfbroker/internal/cli"] {
		t.Fatal("go list did not list the CLI's own packages; the check is not looking at the right thing")
	}
}
