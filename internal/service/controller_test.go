package service

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	kservice "github.com/kardianos/service"
)

// fakeManager records calls; it writes its unit file on Install like
// kardianos does, including the "Init already exists" refusal.
type fakeManager struct {
	platform string
	path     string
	content  []byte
	status   kservice.Status
	statErr  error
	errs     map[string]error
	calls    []string
}

func (f *fakeManager) call(name string) error {
	f.calls = append(f.calls, name)
	return f.errs[name]
}

func (f *fakeManager) Install() error {
	if err := f.call("install"); err != nil {
		return err
	}
	if _, err := os.Stat(f.path); err == nil {
		return errors.New("Init already exists: " + f.path)
	}
	return os.WriteFile(f.path, f.content, 0o644)
}

func (f *fakeManager) Uninstall() error {
	if err := f.call("uninstall"); err != nil {
		return err
	}
	return os.Remove(f.path)
}
func (f *fakeManager) Start() error   { return f.call("start") }
func (f *fakeManager) Stop() error    { return f.call("stop") }
func (f *fakeManager) Restart() error { return f.call("restart") }
func (f *fakeManager) Status() (kservice.Status, error) {
	f.calls = append(f.calls, "status")
	return f.status, f.statErr
}
func (f *fakeManager) Platform() string { return f.platform }
func (f *fakeManager) UnitFile() (string, []byte, bool, error) {
	if f.platform != PlatformSystemd && f.platform != PlatformLaunchd {
		return "", nil, false, nil
	}
	return f.path, f.content, true, nil
}

func TestUnsupportedSystemsGetOneLineAndAHint(t *testing.T) {
	for _, op := range []string{"install", "uninstall", "start", "stop", "restart", "status"} {
		t.Run(op+" on SystemV says there is no user service manager", func(t *testing.T) {
			m := &fakeManager{platform: "unix-systemv"}
			var out bytes.Buffer
			c := &Controller{Manager: m, Out: &out}
			err := map[string]func() error{
				"install": c.Install, "uninstall": c.Uninstall, "start": c.Start,
				"stop": c.Stop, "restart": c.Restart, "status": c.Status,
			}[op]()
			var he *Error
			if !errors.Is(err, ErrUnsupported) || !errors.As(err, &he) {
				t.Fatalf("got %v; want ErrUnsupported with a hint", err)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "this system has no systemd user manager or launchd") {
				t.Errorf("error %q is not the one-line message", msg)
			}
			if !strings.Contains(he.Hint(), "on demand") {
				t.Errorf("hint %q does not point to on-demand start", he.Hint())
			}
			if len(m.calls) != 0 || out.Len() != 0 {
				t.Errorf("touched the service manager (%v) or printed %q", m.calls, out.String())
			}
		})
	}
}

func TestLaunchdRestartOfAStoppedAgentLoadsIt(t *testing.T) {
	m := &fakeManager{platform: PlatformLaunchd, path: filepath.Join(t.TempDir(), "x.plist"), status: kservice.StatusStopped}
	if err := (&Controller{Manager: m, Out: new(bytes.Buffer)}).Restart(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.calls, ","); got != "status,status,start" {
		t.Errorf("calls %s; want a start, not an unload+load that fails on an unloaded agent", got)
	}
}

func TestLaunchdInstallLoadsTheAgent(t *testing.T) {
	m := &fakeManager{platform: PlatformLaunchd, path: filepath.Join(t.TempDir(), "x.plist"), content: []byte("<plist/>")}
	var out bytes.Buffer
	if err := (&Controller{Manager: m, Out: &out}).Install(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.calls, ","); got != "install,start" {
		t.Errorf("calls %s", got)
	}
	if !strings.Contains(out.String(), "starts again at login") || strings.Contains(out.String(), "linger") {
		t.Errorf("output: %s", out.String())
	}
}

func TestServiceManagerErrorsCarryAHint(t *testing.T) {
	m := &fakeManager{platform: PlatformSystemd, path: filepath.Join(t.TempDir(), "u.service"),
		status: kservice.StatusStopped, errs: map[string]error{"start": errors.New("exit status 1")}}
	c := &Controller{Manager: m, Out: new(bytes.Buffer), Getenv: func(k string) string { return "/run/user/1000" }}
	os.WriteFile(m.path, nil, 0o644)
	err := c.Start()
	var he *Error
	if err == nil || !errors.As(err, &he) || !strings.Contains(he.Hint(), "systemctl --user status hfbrokerd") {
		t.Fatalf("got %v; want the error with a systemctl status hint", err)
	}
	if !strings.HasPrefix(err.Error(), "start: exit status 1") {
		t.Errorf("error %q lacks context", err)
	}
}
