package daemon

import (
	"strings"
	"testing"
)

// Issue 17: hfbrokerd on Windows must say at start that it is not supported.
func TestMainSaysWindowsIsNotSupportedAtStart(t *testing.T) {
	old := hostOS
	t.Cleanup(func() { hostOS = old })
	hostOS = "windows"
	var out, errOut strings.Builder
	if code := Main([]string{"run"}, &out, &errOut); code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	if !strings.HasPrefix(errOut.String(), "hfbrokerd: error: unsupported platform: Windows is not supported yet") || strings.Count(errOut.String(), "\n") != 1 {
		t.Errorf("stderr = %q", errOut.String())
	}
	hostOS = "linux"
	errOut.Reset()
	if code := Main([]string{"version"}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "hfbrokerd version ") {
		t.Errorf("on linux: version exit %d, out %q, err %q", code, out.String(), errOut.String())
	}
}
