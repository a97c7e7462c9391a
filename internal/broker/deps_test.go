package broker_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestTheBrokerDoesNoIOOfItsOwn keeps the broker core free of I/O (issue
// 13): the token store, the profile store, the process table and exit
// watcher, the Hub and the audit log reach it through interfaces the daemon
// fills (internal/keystore, internal/profilefile, internal/osproc,
// internal/hub, internal/audit), so its rules are tested in-process with
// fakes, on every system.
//
// The broker's own files import nothing that reaches files, processes,
// sockets or system calls. Of its dependencies, none may be a backend or
// a real implementation: not the keystore (keychain, D-Bus, age), not
// x/sys/unix (pidfds), not os/exec, not the Hub client or net/http (the
// broker reads the Hub's answers and errors from hubapi), not the packages
// above it. The os package itself is linked: fmt needs it. So is
// internal/audit, for its Event type: its file Log is the daemon's to open.
func TestTheBrokerDoesNoIOOfItsOwn(t *testing.T) {
	const pkg = "github.com/hfbroker/hfbroker/internal/broker"
	const mod = "github.com/hfbroker/hfbroker/internal/"
	direct := []string{
		"os", "os/exec", "os/signal", "os/user", "syscall", "io/fs", "io/ioutil", "path/filepath",
		"net", "net/http", "golang.org/x/sys/unix", "golang.org/x/sys/windows",
	}
	linked := []string{
		mod + "keystore", mod + "osproc", mod + "profilefile", mod + "atomicfile", mod + "hub", "net/http",
		mod + "daemon", mod + "server", mod + "proxy", mod + "lane", mod + "client", mod + "cli",
		"github.com/zalando/go-keyring", "github.com/godbus/dbus/v5", "filippo.io/age",
		"golang.org/x/sys/unix", "golang.org/x/sys/windows", "os/exec", "google.golang.org/grpc",
	}
	for _, goos := range []string{"linux", "darwin", "windows"} {
		t.Run(goos, func(t *testing.T) {
			imports := goList(t, goos, "-f", `{{join .Imports "\n"}}`, pkg)
			if !imports["context"] {
				t.Fatalf("go list did not list the broker's imports; the check is not looking at the right thing")
			}
			for _, bad := range direct {
				if imports[bad] {
					t.Errorf("the broker imports %s: take it through an interface the daemon fills", bad)
				}
			}
			deps := goList(t, goos, "-deps", pkg)
			if !deps[pkg] {
				t.Fatalf("go list -deps did not list the broker itself")
			}
			for _, bad := range linked {
				if deps[bad] {
					t.Errorf("the broker links %s", bad)
				}
			}
		})
	}
}

func goList(t *testing.T, goos string, args ...string) map[string]bool {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Env = append(os.Environ(), "GOOS="+goos, "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v (GOOS=%s): %v", args, goos, err)
	}
	set := map[string]bool{}
	for _, f := range strings.Fields(string(out)) {
		set[f] = true
	}
	return set
}
