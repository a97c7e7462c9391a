//go:build unix

package front

import (
	"path"
	"strconv"
	"strings"
	"syscall"
)

// The paths the front needs, by the rules of the packages that own them
// (internal/xdg, internal/socket, internal/fullcli), which link os. Where
// those would return an error the front falls back, and the full CLI says
// what is wrong. paths_test.go checks each against its owner.

const (
	envSocket      = "HFBROKER_SOCKET"      // socket.EnvSocket
	envForward     = "HFBROKER_FORWARD"     // socket.EnvForward
	envHandover    = "HFBROKER_FRONT_REPLY" // fullcli.EnvHandover
	socketName     = "hfbrokerd.sock"       // socket.SocketName
	restrictedName = "remote.sock"          // socket.RestrictedName
	maxSocketPath  = 104                    // socket.CheckPathLen's bound
	fullName       = "hfbroker-cli"         // fullcli.Name
	recordName     = "front-config"         // frontconfig.FileName
)

// errFullNotFound is fullcli.ErrNotFound's text.
const errFullNotFound = fullName + " is not installed beside hfbroker, nor in ../libexec/hfbroker/"

func getenv(key string) string {
	v, _ := syscall.Getenv(key)
	return v
}

// isAbs is filepath.IsAbs on Unix.
func isAbs(p string) bool { return strings.HasPrefix(p, "/") }

// configPaths are xdg.Resolve's ConfigFile() and StateDir.
func configPaths() (configFile, stateDir string, ok bool) {
	home := getenv("HOME")
	if home == "" {
		return "", "", false // os.UserHomeDir's error: the full CLI's to report
	}
	dir := func(name, def string) string {
		if v := getenv(name); isAbs(v) {
			return v
		}
		return path.Join(home, def)
	}
	return path.Join(dir("XDG_CONFIG_HOME", ".config"), "hfbroker", "config.toml"),
		path.Join(dir("XDG_STATE_HOME", ".local/state"), "hfbroker"), true
}

// socketPath is socket.DefaultPath.
func socketPath() (string, bool) {
	var p string
	if v := getenv(envSocket); v != "" {
		if !isAbs(v) {
			return "", false
		}
		p = path.Clean(v)
	} else if rt := getenv("XDG_RUNTIME_DIR"); rt != "" && isAbs(rt) && privateDir(rt) {
		p = path.Join(rt, "hfbroker", socketName)
	} else {
		tmp := getenv("TMPDIR") // os.TempDir
		if tmp == "" {
			tmp = "/tmp"
		}
		p = path.Join(tmp, "hfbroker-"+strconv.Itoa(syscall.Getuid()), socketName)
	}
	return p, len(p) < maxSocketPath
}

// privateDir is socket's checkPrivateDir passing: a real directory of ours
// that no one else may enter.
func privateDir(dir string) bool {
	var st syscall.Stat_t
	if syscall.Lstat(dir, &st) != nil {
		return false
	}
	return st.Mode&syscall.S_IFMT == syscall.S_IFDIR && int(st.Uid) == syscall.Getuid() && st.Mode&0o077 == 0
}

// restricted is socket.Restricted.
func restricted(socket string) bool {
	if getenv(envForward) != "" {
		return true
	}
	base := path.Base(socket)
	return base == restrictedName || strings.HasPrefix(base, "remote-") && strings.HasSuffix(base, ".sock")
}

// findFull is fullcli.Find for the front's own path, which on Linux is
// /proc/self/exe's, with no link left to resolve.
func findFull(self string) (string, bool) {
	dir := path.Dir(self)
	for _, p := range []string{path.Join(dir, fullName), path.Join(dir, "../libexec/hfbroker", fullName)} {
		var st syscall.Stat_t
		if syscall.Stat(p, &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFREG && st.Mode&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}
