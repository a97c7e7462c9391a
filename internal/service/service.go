// Package service installs and controls hfbrokerd as a per-user service (a
// systemd user unit or a launchd agent) through kardianos/service, and renders
// the unit files it writes.
package service

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	kservice "github.com/kardianos/service"
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

// systemdUnit replaces kardianos's default unit, whose
// WantedBy=multi-user.target does not exist in a user manager (the unit would
// never start at login) and whose RestartSec=120 and
// EnvironmentFile=-/etc/sysconfig/… are system-service habits.
//
// Restart=on-failure rather than always: the daemon exits 0 when its socket
// is removed or replaced on purpose, and that must not be undone.
// ConditionFileIsExecutable makes a uninstalled binary a skipped unit rather
// than a restart loop. The unit works with and without hfbrokerd.socket: when
// the socket unit is active systemd passes its listener (LISTEN_FDS), else
// the daemon binds $XDG_RUNTIME_DIR/hfbroker/hfbrokerd.sock itself.
//
// It is written for kardianos v1.3.0's mini template engine: no {{.Name}},
// no and/or/eq.
const systemdUnit = `[Unit]
Description={{Description}}
ConditionFileIsExecutable={{Path | cmdEscape}}

[Service]
ExecStart={{Path | cmdEscape}}{{range Arguments}} {{. | cmd}}{{end}}
Restart=on-failure
RestartSec=2
` + systemdSandbox + `
[Install]
WantedBy=default.target
`

// systemdSandbox is the sandboxing a *user* service can use without losing
// the Secret Service (D-Bus in $XDG_RUNTIME_DIR), its state, config and
// vault (under $HOME), its socket ($XDG_RUNTIME_DIR/hfbroker) or the Hub
// (outgoing https). Each line says why it is safe.
//
// Left out on purpose, although systemd-analyze security counts them:
// CapabilityBoundingSet=, AmbientCapabilities=, PrivateDevices=,
// ProtectKernelModules=, ProtectKernelLogs= and ProtectClock= all drop
// capabilities from the bounding set, which a user manager may not do
// unless it could set up a user namespace: where it cannot (unprivileged
// user namespaces disabled, or restricted as on Ubuntu 24.04) the unit
// fails with 218/CAPABILITIES. The service has no capabilities anyway (it
// runs as the user, and NoNewPrivileges= stops it gaining any).
// PrivateUsers= set explicitly fails hard without user namespaces; the
// namespacing lines below imply it where it works and are skipped (by
// systemd, with a debug message) where it does not. PrivateNetwork= and
// IPAddressDeny= would cut the daemon off from the Hub.
//
// The exposure score (systemd-analyze security --offline=true --user) is
// pinned by packaging/test-unit-security.
const systemdSandbox = `# Sandboxing (a user service can use all of these; each says why it is safe):
# files the daemon creates (vault, audit log, socket) are private to the user.
UMask=0077
# the daemon never needs more privileges than its user (no setuid helpers).
NoNewPrivileges=yes
# a Go binary never changes its execution domain.
LockPersonality=yes
# Go code never maps memory writable and executable.
MemoryDenyWriteExecute=yes
# the daemon runs no realtime threads.
RestrictRealtime=yes
# it creates no setuid or setgid files.
RestrictSUIDSGID=yes
# it creates no namespaces ('hfbroker exec' runs in the CLI, not here).
RestrictNamespaces=yes
# one ABI: the binary's own.
SystemCallArchitectures=native
# an ordinary service's system calls; Go's setrlimit is prlimit64, which
# stays allowed, so the RLIMIT_CORE=0 hardening still works.
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
SystemCallErrorNumber=EPERM
# unix sockets (its own socket, D-Bus for the Secret Service), IP for the Hub
# and the loopback proxy, netlink for a cgo resolver's address checks.
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
# the Secret Service is reached over D-Bus, not the kernel keyring.
KeyringMode=private
# no core files: they would hold tokens (the daemon also sets this itself).
LimitCORE=0
# the system is read-only; the daemon writes only its XDG directories under
# $HOME (state, config, vault) and its socket in $XDG_RUNTIME_DIR. If you
# move XDG_*_HOME out of $HOME, add them with 'systemctl --user edit'.
ProtectSystem=strict
ProtectHome=read-only
ReadWritePaths=%h %t
# /tmp is not used: the socket lives in $XDG_RUNTIME_DIR under a user manager.
PrivateTmp=yes
PrivateMounts=yes
# the daemon reads no kernel tunables, cgroups or hostname settings.
ProtectKernelTunables=yes
ProtectControlGroups=yes
ProtectHostname=yes
# it reads /proc/PID of its own clients only (same user: still visible);
# a user manager may fall back to the host's /proc, which is harmless.
ProtectProc=invisible
ProcSubset=pid
`

// launchdPlist replaces kardianos's default agent. RunAtLoad starts the agent
// at login (the default is false: it would only start on `launchctl start`).
// KeepAlive is the SuccessfulExit=false form, launchd's equivalent of
// Restart=on-failure: the default <true/> would relaunch a daemon that exited
// 0 on purpose, or that found another daemon already serving, forever.
// The two log paths stay adjacent: packaging's plist omits exactly them.
const launchdPlist = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>{{Name | html}}</string>
	<key>ProgramArguments</key>
	<array>
		<string>{{Path | html}}</string>
{{range Arguments}}		<string>{{. | html}}</string>
{{end}}	</array>
	<key>RunAtLoad</key>
	<{{RunAtLoad}}/>
	<key>KeepAlive</key>
	<dict>
		<key>SuccessfulExit</key>
		<false/>
	</dict>
	<key>StandardOutPath</key>
	<string>{{StandardOutPath | html}}</string>
	<key>StandardErrorPath</key>
	<string>{{StandardErrorPath | html}}</string>
</dict>
</plist>
`

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
			"UserService":   true,
			"SystemdScript": systemdUnit,
			"LaunchdConfig": launchdPlist,
			"RunAtLoad":     true,
			// Only read by kardianos's default plist; ours encodes
			// KeepAlive as SuccessfulExit=false. Kept so that dropping the
			// custom template still relaunches the daemon.
			"KeepAlive": true,
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

// cmdQuote and cmdEscape are kardianos's systemd template functions.
var systemdFuncs = map[string]tmplFunc{
	"cmd":       func(s string) (string, error) { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`, nil },
	"cmdEscape": func(s string) (string, error) { return strings.ReplaceAll(s, " ", `\x20`), nil },
}

var plistEscaper = strings.NewReplacer(`&`, "&amp;", `'`, "&#39;", `<`, "&lt;", `>`, "&gt;", `"`, "&#34;")

var launchdFuncs = map[string]tmplFunc{
	"html": func(s string) (string, error) { return plistEscaper.Replace(s), nil },
}

// SystemdUnit renders the user unit that Install writes for executable.
func SystemdUnit(executable string) ([]byte, error) {
	return renderSystemd(configFor("linux", executable, ""))
}

// LaunchdPlist renders the agent plist that Install writes for executable,
// for a user whose home directory is home.
func LaunchdPlist(executable, home string) ([]byte, error) {
	return renderLaunchd(configFor("darwin", executable, home), home)
}

// renderSystemd builds the data map exactly as kardianos's (*systemd).Install
// does (for our options: no LogOutput, LimitNOFILE, ReloadSignal or PIDFile).
func renderSystemd(c *kservice.Config) ([]byte, error) {
	path, err := filepath.Abs(c.Executable)
	if err != nil {
		return nil, fmt.Errorf("resolve executable: %w", err)
	}
	data := map[string]any{
		"Description":       c.Description,
		"Path":              path,
		"Name":              c.Name,
		"Dependencies":      c.Dependencies,
		"Arguments":         c.Arguments,
		"ChRoot":            c.ChRoot,
		"WorkingDirectory":  c.WorkingDirectory,
		"UserName":          c.UserName,
		"ReloadSignal":      optString(c, "ReloadSignal", ""),
		"PIDFile":           optString(c, "PIDFile", ""),
		"LogDirectory":      optString(c, "LogDirectory", "/var/log"),
		"OutputFileSupport": "",
		"LimitNOFILE":       "",
		"Restart":           optString(c, "Restart", "always"),
		"SuccessExitStatus": optString(c, "SuccessExitStatus", ""),
		"EnvVars":           envVars(c.EnvVars, func(k, v string) string { return "Environment=" + k + "=" + v }),
	}
	out, err := renderTemplate(optString(c, "SystemdScript", ""), data, systemdFuncs)
	if err != nil {
		return nil, fmt.Errorf("render systemd unit: %w", err)
	}
	return []byte(out), nil
}

// renderLaunchd builds the data map exactly as kardianos's
// (*darwinLaunchdService).Install does for a user service.
func renderLaunchd(c *kservice.Config, home string) ([]byte, error) {
	path, err := filepath.Abs(c.Executable)
	if err != nil {
		return nil, fmt.Errorf("resolve executable: %w", err)
	}
	logDir := optString(c, "LogDirectory", home)
	logPath := func(kind string) string { return fmt.Sprintf("%s/%s.%s.log", logDir, c.Name, kind) }
	data := map[string]any{
		"Name":              c.Name,
		"Path":              path,
		"Arguments":         c.Arguments,
		"ChRoot":            c.ChRoot,
		"UserName":          c.UserName,
		"WorkingDirectory":  c.WorkingDirectory,
		"KeepAlive":         plistBool(optBool(c, "KeepAlive", true)),
		"RunAtLoad":         plistBool(optBool(c, "RunAtLoad", false)),
		"SessionCreate":     plistBool(optBool(c, "SessionCreate", false)),
		"StandardOutPath":   logPath("out"),
		"StandardErrorPath": logPath("err"),
		"EnvVars": envVars(c.EnvVars, func(k, v string) string {
			return "\t\t<key>" + plistEscaper.Replace(k) + "</key>\n\t\t<string>" + plistEscaper.Replace(v) + "</string>"
		}),
	}
	out, err := renderTemplate(optString(c, "LaunchdConfig", ""), data, launchdFuncs)
	if err != nil {
		return nil, fmt.Errorf("render launchd plist: %w", err)
	}
	return []byte(out), nil
}

func optString(c *kservice.Config, key, def string) string {
	if v, ok := c.Option[key].(string); ok {
		return v
	}
	return def
}

func optBool(c *kservice.Config, key string, def bool) bool {
	if v, ok := c.Option[key].(bool); ok {
		return v
	}
	return def
}

func plistBool(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func envVars(vars map[string]string, f func(k, v string) string) []string {
	if len(vars) == 0 {
		return nil
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, f(k, vars[k]))
	}
	return out
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
		b, err := renderSystemd(m.cfg)
		return filepath.Join(m.home, ".config", "systemd", "user", m.cfg.Name+".service"), b, true, err
	case PlatformLaunchd:
		b, err := renderLaunchd(m.cfg, m.home)
		return filepath.Join(m.home, "Library", "LaunchAgents", m.cfg.Name+".plist"), b, true, err
	}
	return "", nil, false, nil
}

func (m *manager) Install() error {
	if m.platform == PlatformLaunchd {
		// launchd does not create the directory of StandardErrorPath;
		// without it the agent's output is lost.
		if dir := optString(m.cfg, "LogDirectory", ""); dir != "" {
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
