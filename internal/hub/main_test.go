package hub_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: a hanging
// fake handler or an unclosed response body would show up here.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
