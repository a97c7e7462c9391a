// Package service installs and controls hfbrokerd as a per-user service (a
// systemd user unit or a launchd agent) through kardianos/service, writing
// the unit files kept in packaging/.
package service

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"

	kservice "github.com/kardianos/service"

	"github.com/hfbroker/hfbroker/packaging"
)

// Name is the service name: the systemd unit is Name + ".service".
const Name = "hfbrokerd"

// LaunchdLabel is the agent's label and plist name on macOS. kardianos uses
// the service name as the launchd label, so on darwin the service is named
// after it; reverse-DNS is launchd's convention, and it matches the plist in
// packaging/launchd, so a packaged agent and an installed one cannot both run.
const LaunchdLabel = "com.hfbroker.hfbrokerd"

// Platform names as reported by kardianos/service.
const (
	PlatformSystemd = "linux-systemd"
	PlatformLaunchd = "darwin-launchd"
)

const (
	displayName = "hfbroker daemon"
	description = "hfbroker daemon: keeps Hugging Face tokens and serves short-lived leases on a unix socket"
)

// The unit and the agent come from packaging/ (embedded), so that a packaged
// install and 'hfbrokerd install' run the same service; see the comments in
// those files for why each line is there. Install hands the finished file to
// kardianos as its template: text without "{{" renders as itself, so what
// kardianos writes is byte for byte what UnitFile shows.

// Config is the kardianos configuration for hfbrokerd running executable.
func Config(executable string) *kservice.Config {
	home, _ := homeDir()
	return configFor(runtime.GOOS, executable, home)
}

func configFor(goos, executable, home string) *kservice.Config {
	c := &kservice.Config{
		Name:        Name,
		DisplayName: displayName,
		Description: description,
		Arguments:   []string{"run"},
		Executable:  executable,
		Option: kservice.KeyValue{
			"UserService": true,
			"RunAtLoad":   true,
			"KeepAlive":   true,
		},
	}
	if goos == "darwin" {
		c.Name = LaunchdLabel
		if home != "" {
			c.Option["LogDirectory"] = LogDir(home)
		}
	}
	return c
}

// LogDir is where the launchd agent's stdout and stderr go.
func LogDir(home string) string {
	return filepath.Join(home, "Library", "Logs", "hfbroker")
}

// homeDir mirrors kardianos's darwin lookup (the user database first, then
// $HOME), which is what names the LaunchAgents directory.
func homeDir() (string, error) {
	if runtime.GOOS == "darwin" {
		if u, err := user.Current(); err == nil && u.HomeDir != "" {
			return u.HomeDir, nil
		}
	}
	return os.UserHomeDir()
}

// SystemdUnit returns the user unit that Install writes for executable:
// packaging/systemd/hfbrokerd.service without its leading comments, with
// executable in ConditionFileIsExecutable= and ExecStart=.
func SystemdUnit(executable string) ([]byte, error) {
	path, err := installPath(executable)
	if err != nil {
		return nil, err
	}
	// systemd splits ExecStart= on spaces; \x20 is its escape for one.
	esc := strings.ReplaceAll(path, " ", `\x20`)
	var b strings.Builder
	header := true
	for _, line := range strings.SplitAfter(packaging.SystemdUnit, "\n") {
		if header && strings.HasPrefix(line, "#") {
			continue
		}
		header = false
		switch {
		case strings.HasPrefix(line, "ConditionFileIsExecutable="):
			line = "ConditionFileIsExecutable=" + esc + "\n"
		case strings.HasPrefix(line, "ExecStart="):
			_, args, _ := strings.Cut(strings.TrimPrefix(line, "ExecStart="), " ")
			line = "ExecStart=" + esc + " " + args
		}
		b.WriteString(line)
	}
	return []byte(b.String()), nil
}

// plistEscaper escapes as Go's html.EscapeString, which kardianos used.
var plistEscaper = strings.NewReplacer(`&`, "&amp;", `'`, "&#39;", `<`, "&lt;", `>`, "&gt;", `"`, "&#34;")

// programRE is the executable in the packaged plist's ProgramArguments.
var programRE = regexp.MustCompile(`(<key>ProgramArguments</key>\s*<array>\s*<string>)[^<]*(</string>)`)

// LaunchdPlist returns the agent plist that Install writes for executable,
// for a user whose home directory is home: packaging's plist without its
// comments, with executable as the program and the agent's output logged
// under LogDir(home), which a plist shared by every user cannot name.
func LaunchdPlist(executable, home string) ([]byte, error) {
	path, err := installPath(executable)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	for _, line := range strings.SplitAfter(packaging.LaunchdPlist, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "<!--") {
			b.WriteString(line)
		}
	}
	s := b.String()
	loc := programRE.FindStringSubmatchIndex(s)
	if loc == nil {
		return nil, errors.New("packaging's launchd plist has no ProgramArguments")
	}
	s = s[:loc[3]] + plistEscaper.Replace(path) + s[loc[4]:]
	logPath := func(kind string) string {
		return plistEscaper.Replace(filepath.Join(LogDir(home), LaunchdLabel+"."+kind+".log"))
	}
	logs := "\t<key>StandardOutPath</key>\n\t<string>" + logPath("out") + "</string>\n" +
		"\t<key>StandardErrorPath</key>\n\t<string>" + logPath("err") + "</string>\n"
	end := strings.LastIndex(s, "</dict>\n</plist>")
	if end < 0 {
		return nil, errors.New("packaging's launchd plist does not end in </dict></plist>")
	}
	return []byte(s[:end] + logs + s[end:]), nil
}

// installPath is executable made absolute. It refuses "{{", which kardianos
// would read as a template action in the file it is handed.
func installPath(executable string) (string, error) {
	path, err := filepath.Abs(executable)
	if err != nil {
		return "", fmt.Errorf("resolve executable: %w", err)
	}
	if strings.Contains(path, "{{") {
		return "", fmt.Errorf("cannot install a service for %q: the path contains {{", path)
	}
	return path, nil
}

// Manager is the part of a kardianos service the commands use, plus where
// its unit file lives, so that the commands can be tested with a fake.
type Manager interface {
	Install() error
	Uninstall() error
	Start() error
	Stop() error
	Restart() error
	Status() (kservice.Status, error)
	// Platform names the service manager found, e.g. "linux-systemd".
	Platform() string
	// UnitFile returns the file Install writes and the bytes it writes
	// there; ok is false on platforms where user services are unsupported.
	UnitFile() (path string, content []byte, ok bool, err error)
}

// ErrUnsupported means the machine has no service manager that runs
// per-user services we support.
var ErrUnsupported = errors.New("this system has no systemd user manager or launchd")

// New returns the Manager for hfbrokerd running executable on this machine.
func New(executable string) (Manager, error) {
	sys := kservice.ChosenSystem()
	if sys == nil {
		return unsupported{}, nil
	}
	return newManager(sys, executable)
}

func newManager(sys kservice.System, executable string) (Manager, error) {
	home, err := homeDir()
	if err != nil {
		return nil, fmt.Errorf("find home directory: %w", err)
	}
	c := configFor(runtime.GOOS, executable, home)
	unit, err := SystemdUnit(executable)
	if err != nil {
		return nil, err
	}
	plist, err := LaunchdPlist(executable, home)
	if err != nil {
		return nil, err
	}
	c.Option["SystemdScript"], c.Option["LaunchdConfig"] = string(unit), string(plist)
	s, err := sys.New(noProgram{}, c)
	if err != nil {
		return nil, fmt.Errorf("set up %s service: %w", sys.String(), err)
	}
	return &manager{Service: s, platform: sys.String(), cfg: c, home: home}, nil
}

// noProgram satisfies kardianos's Interface: hfbrokerd never calls
// Service.Run (it handles its own signals), so these are never invoked.
type noProgram struct{}

func (noProgram) Start(kservice.Service) error { return nil }
func (noProgram) Stop(kservice.Service) error  { return nil }

type manager struct {
	kservice.Service
	platform string
	cfg      *kservice.Config
	home     string
}

func (m *manager) Platform() string { return m.platform }

func (m *manager) UnitFile() (string, []byte, bool, error) {
	switch m.platform {
	case PlatformSystemd:
		b, err := SystemdUnit(m.cfg.Executable)
		return filepath.Join(m.home, ".config", "systemd", "user", m.cfg.Name+".service"), b, true, err
	case PlatformLaunchd:
		b, err := LaunchdPlist(m.cfg.Executable, m.home)
		return filepath.Join(m.home, "Library", "LaunchAgents", m.cfg.Name+".plist"), b, true, err
	}
	return "", nil, false, nil
}

func (m *manager) Install() error {
	if m.platform == PlatformLaunchd {
		// launchd does not create the directory of StandardErrorPath;
		// without it the agent's output is lost.
		if dir, _ := m.cfg.Option["LogDirectory"].(string); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return fmt.Errorf("create log directory: %w", err)
			}
		}
	}
	return m.Service.Install()
}

// unsupported stands in when kardianos found no service system at all.
type unsupported struct{}

func (unsupported) Install() error                   { return ErrUnsupported }
func (unsupported) Uninstall() error                 { return ErrUnsupported }
func (unsupported) Start() error                     { return ErrUnsupported }
func (unsupported) Stop() error                      { return ErrUnsupported }
func (unsupported) Restart() error                   { return ErrUnsupported }
func (unsupported) Status() (kservice.Status, error) { return kservice.StatusUnknown, ErrUnsupported }
func (unsupported) Platform() string                 { return "" }
func (unsupported) UnitFile() (string, []byte, bool, error) {
	return "", nil, false, nil
}
