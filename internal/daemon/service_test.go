package daemon

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	kservice "github.com/kardianos/service"

	"github.com/hfbroker/hfbroker/internal/service"
)

// fakeManager is a service.Manager that records calls and writes its unit
// file the way kardianos does.
type fakeManager struct {
	platform string
	path     string
	status   kservice.Status
	calls    []string
}

func (f *fakeManager) Install() error {
	f.calls = append(f.calls, "install")
	if _, err := os.Stat(f.path); err == nil {
		return errors.New("Init already exists: " + f.path)
	}
	return os.WriteFile(f.path, []byte("unit\n"), 0o644)
}
func (f *fakeManager) Uninstall() error {
	f.calls = append(f.calls, "uninstall")
	return os.Remove(f.path)
}
func (f *fakeManager) Start() error   { f.calls = append(f.calls, "start"); return nil }
func (f *fakeManager) Stop() error    { f.calls = append(f.calls, "stop"); return nil }
func (f *fakeManager) Restart() error { f.calls = append(f.calls, "restart"); return nil }
func (f *fakeManager) Status() (kservice.Status, error) {
	f.calls = append(f.calls, "status")
	if _, err := os.Stat(f.path); err != nil {
		return kservice.StatusUnknown, kservice.ErrNotInstalled
	}
	return f.status, nil
}
func (f *fakeManager) Platform() string { return f.platform }
func (f *fakeManager) UnitFile() (string, []byte, bool, error) {
	if f.platform != service.PlatformSystemd && f.platform != service.PlatformLaunchd {
		return "", nil, false, nil
	}
	return f.path, []byte("unit\n"), true, nil
}

// useFakeManager swaps the service manager for this test. Tests using it
// must not run in parallel.
func useFakeManager(t *testing.T, m service.Manager, err error) {
	t.Helper()
	old := newServiceManager
	newServiceManager = func() (service.Manager, error) { return m, err }
	t.Cleanup(func() { newServiceManager = old })
}

func runMain(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestServiceCommandsDriveTheServiceManager(t *testing.T) {
	m := &fakeManager{platform: service.PlatformSystemd, path: filepath.Join(t.TempDir(), "hfbrokerd.service"), status: kservice.StatusRunning}
	useFakeManager(t, m, nil)
	tests := []struct {
		args      []string
		wantCalls string
		wantOut   string
	}{
		{[]string{"status"}, "status", "hfbrokerd service: not installed"},
		{[]string{"install"}, "install,start", "installed " + m.path},
		{[]string{"install"}, "install,status", "(unchanged)"},
		{[]string{"status"}, "status", "hfbrokerd service: running (" + m.path + ")"},
		{[]string{"stop"}, "status,stop", "stopped hfbrokerd"},
		{[]string{"start"}, "status,start", "started hfbrokerd"},
		{[]string{"restart"}, "status,restart", "restarted hfbrokerd"},
		{[]string{"uninstall"}, "stop,uninstall", "removed " + m.path},
		{[]string{"uninstall"}, "", "not installed"},
	}
	for _, tc := range tests {
		m.calls = nil
		code, out, errOut := runMain(tc.args...)
		if code != 0 || errOut != "" {
			t.Fatalf("hfbrokerd %s: exit %d, stderr %q", tc.args[0], code, errOut)
		}
		if got := strings.Join(m.calls, ","); got != tc.wantCalls {
			t.Errorf("hfbrokerd %s called %q; want %q", tc.args[0], got, tc.wantCalls)
		}
		if !strings.Contains(out, tc.wantOut) {
			t.Errorf("hfbrokerd %s printed %q; want it to contain %q", tc.args[0], out, tc.wantOut)
		}
	}
}

func TestServiceCommandsWithoutAUserServiceManagerPrintOneErrorAndAHint(t *testing.T) {
	for _, cmd := range []string{"install", "uninstall", "start", "stop", "restart", "status"} {
		t.Run(cmd, func(t *testing.T) {
			m := &fakeManager{platform: "unix-systemv"}
			useFakeManager(t, m, nil)
			code, out, errOut := runMain(cmd)
			want := "hfbrokerd: error: this system has no systemd user manager or launchd (found unix-systemv)\n" +
				"hfbrokerd: hint: run 'hfbrokerd' from your shell profile, or let hfbroker start it on demand (it does by default)\n"
			if code != 1 || out != "" || errOut != want {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 1 and stderr:\n%s", code, out, errOut, want)
			}
			if len(m.calls) != 0 {
				t.Errorf("called the service manager: %v", m.calls)
			}
		})
	}
}

func TestStartingAServiceThatIsNotInstalledSaysHowToInstallIt(t *testing.T) {
	useFakeManager(t, &fakeManager{platform: service.PlatformSystemd, path: filepath.Join(t.TempDir(), "none")}, nil)
	code, _, errOut := runMain("start")
	if code != 1 || !strings.Contains(errOut, "hfbrokerd: error: the hfbrokerd service is not installed\n") ||
		!strings.Contains(errOut, "hfbrokerd: hint: run 'hfbrokerd install'") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestServiceCommandsTakeNoArguments(t *testing.T) {
	m := &fakeManager{platform: service.PlatformSystemd, path: filepath.Join(t.TempDir(), "u")}
	useFakeManager(t, m, nil)
	if code, _, _ := runMain("install", "extra"); code != 1 || len(m.calls) != 0 {
		t.Errorf("install extra: exit %d, calls %v", code, m.calls)
	}
}

func TestServiceManagerSetupErrorsAreReported(t *testing.T) {
	useFakeManager(t, nil, errors.New("find this executable: boom"))
	code, _, errOut := runMain("status")
	if code != 1 || errOut != "hfbrokerd: error: find this executable: boom\n" {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}
