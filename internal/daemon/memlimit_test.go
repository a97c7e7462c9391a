package daemon

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestMemoryLimitDefaultsUnlessGOMEMLIMITIsSet(t *testing.T) {
	prev := debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetMemoryLimit(prev)

	setMemoryLimit(func(string) string { return "" })
	if got := debug.SetMemoryLimit(-1); got != DefaultMemoryLimit {
		t.Fatalf("memory limit = %d, want %d", got, DefaultMemoryLimit)
	}
	debug.SetMemoryLimit(math.MaxInt64)
	setMemoryLimit(func(k string) string {
		if k == "GOMEMLIMIT" {
			return "1GiB"
		}
		return ""
	})
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Fatalf("memory limit = %d with GOMEMLIMIT set; want it left to the runtime", got)
	}
}
