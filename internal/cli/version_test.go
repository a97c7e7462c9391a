package cli

import (
	"strings"
	"testing"

	"github.com/hfbroker/hfbroker/internal/buildinfo"
)

// Issue 17: after an upgrade the old daemon keeps running; status must say
// so and how to restart it.
func TestVersionSkewSaysTheDaemonIsOlderAndHowToRestart(t *testing.T) {
	cliB := buildinfo.Info{Version: "v1.3.0", Revision: "bbbb"}
	got := versionSkew(cliB, buildinfo.Info{Version: "v1.2.0", Revision: "aaaa"}, 4242)
	for _, want := range []string{"daemon (v1.2.0) is older than this CLI (v1.3.0)", "hfbrokerd restart", "kill 4242"} {
		if !strings.Contains(got, want) {
			t.Errorf("versionSkew = %q; want it to contain %q", got, want)
		}
	}
	if got := versionSkew(cliB, buildinfo.Info{Version: "v1.4.0"}, 1); !strings.Contains(got, "newer than this CLI") {
		t.Errorf("daemon newer: versionSkew = %q", got)
	}
	if got := versionSkew(cliB, buildinfo.Info{Version: "dev"}, 1); !strings.Contains(got, "different build") {
		t.Errorf("daemon dev: versionSkew = %q", got)
	}
	if got := versionSkew(cliB, buildinfo.Info{Version: "v1.3.0", Revision: "cccc"}, 1); !strings.Contains(got, "different build") {
		t.Errorf("same version, other revision: versionSkew = %q", got)
	}
	if got := versionSkew(cliB, cliB, 1); got != "" {
		t.Errorf("same build: versionSkew = %q, want empty", got)
	}
}

// Issue 17: on Windows the CLI failed deep in the socket code ("not
// implemented"); it must say at start that Windows is not supported yet.
func TestMainSaysWindowsIsNotSupportedAtStart(t *testing.T) {
	old := hostOS
	t.Cleanup(func() { hostOS = old })
	hostOS = "windows"
	var out, errOut strings.Builder
	code := Main([]string{"token"}, strings.NewReader(""), &out, &errOut)
	if code != ExitError {
		t.Errorf("exit code = %d, want %d", code, ExitError)
	}
	if got := errOut.String(); got != "hfbroker: error: unsupported platform: Windows is not supported yet (the daemon's socket and peer checks have no Windows implementation); use hfbroker under WSL 2\n" {
		t.Errorf("stderr = %q", got)
	}
	if out.Len() != 0 {
		t.Errorf("stdout = %q, want nothing", out.String())
	}
}
