package buildinfo

import (
	"runtime"
	"strings"
	"testing"
)

func TestCompareOrdersReleasesAndPreReleases(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
		ok   bool
	}{
		{"v1.2.3", "v1.2.3", 0, true},
		{"v1.2.3", "v1.2.4", -1, true},
		{"v1.10.0", "v1.9.0", 1, true},
		{"v2.0.0", "v10.0.0", -1, true},
		{"v1.3.0-rc.1", "v1.3.0", -1, true},
		{"v1.3.0-rc.2", "v1.3.0-rc.10", -1, true},
		{"v1.3.0-alpha", "v1.3.0-beta", -1, true},
		{"v1.3.0-1", "v1.3.0-alpha", -1, true},
		{"v0.0.0-20260101000000-abcdef123456", "v0.1.0", -1, true},
		{"v1.2.3+meta", "v1.2.3", 0, true},
		{"dev", "v1.2.3", 0, false},
		{"v1.2", "v1.2.3", 0, false},
		{"1.2.3", "v1.2.3", 0, false},
		{"v01.2.3", "v1.2.3", 0, false},
	} {
		got, ok := Compare(tc.a, tc.b)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Compare(%q, %q) = %d, %v; want %d, %v", tc.a, tc.b, got, ok, tc.want, tc.ok)
		}
		if tc.ok {
			if back, _ := Compare(tc.b, tc.a); back != -tc.want {
				t.Errorf("Compare(%q, %q) = %d; want %d (antisymmetric)", tc.b, tc.a, back, -tc.want)
			}
		}
	}
}

func TestReadPrefersTheStampedVersion(t *testing.T) {
	old := Version
	t.Cleanup(func() { Version = old })
	Version = ""
	if got := Read().Version; got != "dev" {
		// A test binary's main module version is "(devel)" or empty.
		t.Errorf("unstamped Version = %q, want dev", got)
	}
	Version = "v9.8.7"
	i := Read()
	if i.Version != "v9.8.7" {
		t.Errorf("stamped Version = %q, want v9.8.7", i.Version)
	}
	if i.GoVersion != runtime.Version() || i.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("Read() = %+v; want Go %s on %s/%s", i, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
}

func TestStringNamesRevisionAndModifiedTree(t *testing.T) {
	s := Info{Version: "v1.2.3", Revision: "0123456789abcdef0123", Modified: true, GoVersion: "go1.26.8", Platform: "linux/amd64"}.String()
	if want := "v1.2.3 (0123456789ab, modified) go1.26.8 linux/amd64"; s != want {
		t.Errorf("String() = %q, want %q", s, want)
	}
	s = Info{Version: "dev", GoVersion: "go1.26.8", Platform: "darwin/arm64"}.String()
	if strings.Contains(s, "(") || s != "dev go1.26.8 darwin/arm64" {
		t.Errorf("String() without VCS info = %q", s)
	}
}
