package frontrecord

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestLinksNoHeavyPackage keeps this package light for the front end
// (issue 16): Go initialises every package a binary links at start-up, and
// os, fmt, crypto/sha256 and net/url cost the front about 0.2x an empty Go
// program's start-up. The front links this package to read its record.
func TestLinksNoHeavyPackage(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", ".")
	cmd.Env = append(os.Environ(), "GOOS=linux", "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	list := strings.Fields(string(out))
	deps := map[string]bool{}
	for _, d := range list {
		deps[d] = true
	}
	if !deps["github.com/hfbroker/hfbroker/internal/frontconfig/frontrecord"] || !deps["syscall"] {
		t.Fatalf("go list did not list this package and its reader's syscall; the check is not looking at the right thing:\n%s", out)
	}
	for _, bad := range []string{"os", "fmt", "path/filepath", "net/url", "encoding/hex", "encoding/json", "io/fs",
		// x/sys/unix links encoding/binary and reflect, which syscall does
		// not.
		"golang.org/x/sys/unix"} {
		if deps[bad] {
			t.Errorf("frontrecord links %s", bad)
		}
	}
	for _, d := range list {
		if strings.HasPrefix(d, "crypto") || strings.HasPrefix(d, "net") ||
			strings.HasPrefix(d, "github.com/") && d != "github.com/hfbroker/hfbroker/internal/frontconfig/frontrecord" {
			t.Errorf("frontrecord links %s", d)
		}
	}
}
