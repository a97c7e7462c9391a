package hubapi_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLeavesDoNotLinkNetHTTPOrTheStore keeps the pure rules pure (issue 13):
// the Hub rules (hubapi), the access model and the git credential codec
// decide from their inputs alone, so they must not link an HTTP stack or the
// token store. A rule that needs the network belongs in internal/hub; one
// that needs a secret, in the broker.
func TestLeavesDoNotLinkNetHTTPOrTheStore(t *testing.T) {
	leaves := []string{
		"github.com/hfbroker/hfbroker/internal/hubapi",
		"github.com/hfbroker/hfbroker/internal/access",
		"github.com/hfbroker/hfbroker/internal/gitcred",
	}
	bad := []string{
		"net/http",
		"github.com/hfbroker/hfbroker/internal/keystore",
		"github.com/hfbroker/hfbroker/internal/hub",
		"github.com/zalando/go-keyring",
		"github.com/godbus/dbus/v5",
		"filippo.io/age",
		"google.golang.org/grpc",
	}
	for _, pkg := range leaves {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		deps := map[string]bool{}
		for _, d := range strings.Fields(string(out)) {
			deps[d] = true
		}
		if !deps[pkg] {
			t.Fatalf("go list did not list %s itself; the check is not looking at the right thing", pkg)
		}
		for _, b := range bad {
			if deps[b] {
				t.Errorf("%s links %s", pkg, b)
			}
		}
		// The hfbroker front end links hubapi and gitcred, and no secret
		// handling (its start-up, issue 16): answers that hold secrets
		// live in hubapi/oauthtoken.
		if pkg != "github.com/hfbroker/hfbroker/internal/access" && deps["github.com/hfbroker/hfbroker/internal/secret"] {
			t.Errorf("%s links internal/secret, which the front end must not", pkg)
		}
	}
}
