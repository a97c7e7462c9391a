// Package buildinfo says which build of hfbroker is running: the module
// version, the VCS revision it was built from, the Go version and platform.
package buildinfo

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// Version is stamped into release builds with
//
//	-ldflags "-X github.com/hfbroker/hfbroker/internal/buildinfo.Version=v1.2.3"
//
// Without it, the module version from the build info is used ("go install
// …@v1.2.3" records it), else "dev".
var Version = ""

// Info describes one binary's build.
type Info struct {
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"`
	Time      string `json:"time,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"go"`
	Platform  string `json:"platform"`
}

// Read returns this binary's build info.
func Read() Info {
	info := Info{Version: Version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Revision = s.Value
			case "vcs.time":
				info.Time = s.Value
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	return info
}

// String is the one-line form "hfbroker version v1.2.3 (abc1234, modified) go1.26 linux/amd64".
func (i Info) String() string {
	var b strings.Builder
	b.WriteString(i.Version)
	if i.Revision != "" {
		rev := i.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		b.WriteString(" (" + rev)
		if i.Modified {
			b.WriteString(", modified")
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, " %s %s", i.GoVersion, i.Platform)
	return b.String()
}

// Compare orders two builds by version: -1 when a is older than b, +1 when
// newer, 0 when they are the same version. ok is false when it cannot tell
// (either is not a semantic version like v1.2.3, e.g. "dev").
func Compare(a, b string) (cmp int, ok bool) {
	pa, oka := parse(a)
	pb, okb := parse(b)
	if !oka || !okb {
		return 0, false
	}
	for i := range 3 {
		if pa.nums[i] != pb.nums[i] {
			return sign(pa.nums[i] - pb.nums[i]), true
		}
	}
	// A pre-release sorts before its release (semver §11), and pre-releases
	// compare field by field.
	switch {
	case pa.pre == pb.pre:
		return 0, true
	case pa.pre == "":
		return 1, true
	case pb.pre == "":
		return -1, true
	}
	fa, fb := strings.Split(pa.pre, "."), strings.Split(pb.pre, ".")
	for i := 0; i < len(fa) && i < len(fb); i++ {
		if fa[i] == fb[i] {
			continue
		}
		na, ea := strconv.Atoi(fa[i])
		nb, eb := strconv.Atoi(fb[i])
		switch {
		case ea == nil && eb == nil:
			return sign(na - nb), true
		case ea == nil:
			return -1, true
		case eb == nil:
			return 1, true
		case fa[i] < fb[i]:
			return -1, true
		default:
			return 1, true
		}
	}
	return sign(len(fa) - len(fb)), true
}

type semver struct {
	nums [3]int
	pre  string
}

func parse(v string) (semver, bool) {
	var s semver
	v, ok := strings.CutPrefix(v, "v")
	if !ok {
		return s, false
	}
	v, _, _ = strings.Cut(v, "+") // build metadata does not order
	v, s.pre, _ = strings.Cut(v, "-")
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return s, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || p == "" || (len(p) > 1 && p[0] == '0') {
			return s, false
		}
		s.nums[i] = n
	}
	return s, true
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// ErrUnsupportedPlatform is returned by CheckPlatform for a system hfbroker
// does not run on yet.
var ErrUnsupportedPlatform = errors.New("unsupported platform")

// CheckPlatform says, at start, whether hfbroker runs on goos, rather than
// letting a command fail later in the socket code. Linux is supported and
// tested; macOS (Keychain, launchd) is built and vetted; the socket and peer
// credential code has no Windows implementation yet (README: Platforms).
func CheckPlatform(goos string) error {
	if goos == "windows" {
		return fmt.Errorf("%w: Windows is not supported yet (the daemon's socket and peer checks have no Windows implementation); use hfbroker under WSL 2", ErrUnsupportedPlatform)
	}
	return nil
}
