// Package testutil holds small helpers that tests in several packages share.
package testutil

import (
	"bytes"
	"os"
	"sync"
	"testing"
)

// SyncBuffer is a bytes.Buffer that goroutines may write while a test reads
// it: a daemon's or a child process's log, say.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// RequireRoot skips a test that needs root (to run a process as, or give a
// file to, another uid), unless HFBROKER_TEST_REQUIRE_ROOT=1 (CI), where
// not being root fails it: such a test must not skip silently there. why
// says what the test needs root for.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("HFBROKER_TEST_REQUIRE_ROOT") == "1" {
		t.Fatalf("HFBROKER_TEST_REQUIRE_ROOT=1 but the tests do not run as root (needed %s)", why)
	}
	t.Skipf("needs root %s; set HFBROKER_TEST_REQUIRE_ROOT=1 to make this fatal", why)
}
