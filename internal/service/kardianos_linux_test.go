package service

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	kservice "github.com/kardianos/service"

	"github.com/hfbroker/hfbroker/packaging"
)

// fakeSystemctl stands in for systemctl on PATH so that kardianos's real
// systemd backend runs end to end without a user manager: it logs each call
// to $HOME/systemctl.log, answers is-active from $HOME/state (default
// inactive), lists the unit file if it exists, and fails an action whose
// $HOME/fail-<action> exists.
const fakeSystemctl = `#!/bin/sh
echo "$*" >> "$HOME/systemctl.log"
if [ -e "$HOME/fail-$1" ]; then echo "fake failure" >&2; exit 1; fi
case "$1" in
is-active)
	if [ -e "$HOME/state" ]; then cat "$HOME/state"; else echo inactive; fi
	;;
list-unit-files)
	if [ -e "$HOME/.config/systemd/user/hfbrokerd.service" ]; then echo "hfbrokerd.service enabled enabled"; fi
	;;
esac
exit 0
`

type fakeSystemd struct {
	home string
}

// newFakeSystemd points HOME at a temp dir and puts fakeSystemctl first on
// PATH; it returns a Manager on kardianos's own systemd backend.
func newFakeSystemd(t *testing.T, exe string) (*fakeSystemd, Manager) {
	t.Helper()
	home := t.TempDir()
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte(fakeSystemctl), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	var sys kservice.System
	for _, s := range kservice.AvailableSystems() {
		if s.String() == PlatformSystemd {
			sys = s
		}
	}
	if sys == nil {
		t.Fatal("kardianos has no linux-systemd backend")
	}
	m, err := newManager(sys, exe)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeSystemd{home: home}, m
}

func (f *fakeSystemd) unitPath() string {
	return filepath.Join(f.home, ".config", "systemd", "user", "hfbrokerd.service")
}

func (f *fakeSystemd) calls(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.home, "systemctl.log"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(f.home, "systemctl.log"))
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func (f *fakeSystemd) touch(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.home, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestKardianosWritesTheRenderedUnit is what makes the golden file mean
// something: the library's own Install, with our Config, writes exactly the
// bytes SystemdUnit renders.
func TestKardianosWritesTheRenderedUnit(t *testing.T) {
	for _, exe := range []string{"/usr/bin/hfbrokerd", "/opt/hf broker/bin/hfbrokerd"} {
		t.Run(exe, func(t *testing.T) {
			f, m := newFakeSystemd(t, exe)
			if err := m.Install(); err != nil {
				t.Fatal(err)
			}
			written, err := os.ReadFile(f.unitPath())
			if err != nil {
				t.Fatal(err)
			}
			want, err := SystemdUnit(exe)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(written, want) {
				t.Errorf("kardianos wrote\n%s\nSystemdUnit renders\n%s", written, want)
			}
			// The installed unit is packaging's from [Unit] on (the
			// header is for the packaged copy's readers), with this
			// executable in place of /usr/bin/hfbrokerd.
			packaged := packaging.SystemdUnit[strings.Index(packaging.SystemdUnit, "[Unit]"):]
			esc := strings.ReplaceAll(exe, " ", `\x20`)
			if got := strings.ReplaceAll(string(written), esc, "/usr/bin/hfbrokerd"); got != packaged {
				t.Errorf("installed unit differs from packaging/systemd/hfbrokerd.service\n--- installed ---\n%s\n--- packaged ---\n%s", got, packaged)
			}
			path, content, ok, err := m.UnitFile()
			if err != nil || !ok || path != f.unitPath() || !bytes.Equal(content, written) {
				t.Errorf("UnitFile() = %q, ok=%v, err=%v; want %q and the written bytes", path, ok, err, f.unitPath())
			}
			got := strings.Join(f.calls(t), ";")
			if got != "enable --user hfbrokerd.service;daemon-reload --user" {
				t.Errorf("systemctl calls: %s", got)
			}
		})
	}
}

func TestControllerOnSystemd(t *testing.T) {
	const exe = "/usr/bin/hfbrokerd"
	f, m := newFakeSystemd(t, exe)
	var out bytes.Buffer
	c := &Controller{Manager: m, Out: &out}
	step := func(name string, op func() error, wantOut []string, wantCalls string) {
		t.Helper()
		out.Reset()
		if err := op(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, w := range wantOut {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: output lacks %q:\n%s", name, w, out.String())
			}
		}
		if got := strings.Join(f.calls(t), ";"); got != wantCalls {
			t.Errorf("%s: systemctl calls\n got: %s\nwant: %s", name, got, wantCalls)
		}
	}

	step("status before install", c.Status, []string{"hfbrokerd service: not installed"},
		"is-active hfbrokerd.service --user;list-unit-files -t service hfbrokerd.service --user")

	step("first install", c.Install,
		[]string{"installed " + f.unitPath(), "journalctl --user -u hfbrokerd", "loginctl enable-linger"},
		"enable --user hfbrokerd.service;daemon-reload --user;start --user hfbrokerd.service")

	f.touch(t, "state", "active\n")
	step("status when running", c.Status, []string{"hfbrokerd service: running (" + f.unitPath() + ")"},
		"is-active hfbrokerd.service --user")

	step("install again changes nothing", c.Install, []string{"already installed: " + f.unitPath() + " (unchanged)", "running"},
		"is-active hfbrokerd.service --user")

	os.Remove(filepath.Join(f.home, "state"))
	step("install again starts a stopped service", c.Install, []string{"(unchanged)", "started hfbrokerd"},
		"is-active hfbrokerd.service --user;list-unit-files -t service hfbrokerd.service --user;start --user hfbrokerd.service")

	if err := os.WriteFile(f.unitPath(), []byte("[Service]\nExecStart=/old/hfbrokerd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	step("install over a different unit replaces it", c.Install, []string{"replaced " + f.unitPath()},
		"stop --user hfbrokerd.service;disable --user hfbrokerd.service;daemon-reload --user;enable --user hfbrokerd.service;daemon-reload --user;start --user hfbrokerd.service")
	if b, _ := os.ReadFile(f.unitPath()); !bytes.Contains(b, []byte("ExecStart=/usr/bin/hfbrokerd \"run\"")) {
		t.Errorf("unit not rewritten:\n%s", b)
	}

	step("status when stopped", c.Status, []string{"hfbrokerd service: stopped"},
		"is-active hfbrokerd.service --user;list-unit-files -t service hfbrokerd.service --user")
	step("stop", c.Stop, []string{"stopped hfbrokerd"},
		"is-active hfbrokerd.service --user;list-unit-files -t service hfbrokerd.service --user;stop --user hfbrokerd.service")
	step("restart", c.Restart, []string{"restarted hfbrokerd"},
		"is-active hfbrokerd.service --user;list-unit-files -t service hfbrokerd.service --user;restart --user hfbrokerd.service")

	step("uninstall", c.Uninstall, []string{"removed " + f.unitPath()},
		"stop --user hfbrokerd.service;disable --user hfbrokerd.service;daemon-reload --user")
	if _, err := os.Stat(f.unitPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unit still there after uninstall: %v", err)
	}
	step("uninstall again is not an error", c.Uninstall, []string{"not installed"}, "")

	out.Reset()
	err := c.Start()
	var he *Error
	if !errors.Is(err, ErrNotInstalled) || !errors.As(err, &he) || !strings.Contains(he.Hint(), "hfbrokerd install") {
		t.Errorf("start when not installed: %v; want ErrNotInstalled with an install hint", err)
	}
}

func TestFailedEnableLeavesNoHalfInstalledUnit(t *testing.T) {
	f, m := newFakeSystemd(t, "/usr/bin/hfbrokerd")
	f.touch(t, "fail-enable", "")
	c := &Controller{Manager: m, Out: new(bytes.Buffer), Getenv: func(string) string { return "" }}
	err := c.Install()
	var he *Error
	if err == nil || !errors.As(err, &he) || !strings.Contains(he.Hint(), "XDG_RUNTIME_DIR") {
		t.Fatalf("install with failing enable: %v; want an error with a session hint", err)
	}
	if _, err := os.Stat(f.unitPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a unit that was never enabled was left behind: %v", err)
	}
	os.Remove(filepath.Join(f.home, "fail-enable"))
	if err := c.Install(); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if !strings.Contains(strings.Join(f.calls(t), ";"), "enable --user hfbrokerd.service") {
		t.Error("retry did not enable the unit")
	}
}

func TestFailedStateIsReportedNotAnError(t *testing.T) {
	f, m := newFakeSystemd(t, "/usr/bin/hfbrokerd")
	f.touch(t, "state", "failed\n")
	var out bytes.Buffer
	if err := (&Controller{Manager: m, Out: &out}).Status(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "hfbrokerd service: failed") {
		t.Errorf("output: %s", out.String())
	}
}
