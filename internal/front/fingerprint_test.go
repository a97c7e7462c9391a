//go:build unix

package front

import (
	"strings"
	"testing"

	"github.com/hfbroker/hfbroker/internal/secret"
)

// TestFingerprintIsSecrets: the front gives the daemon the fingerprint
// secret.Fingerprint gives, or git's store and erase would name tokens
// hfbroker holds as unknown.
func TestFingerprintIsSecrets(t *testing.T) {
	inputs := []string{"", "a", "hf_" + strings.Repeat("x", 34), strings.Repeat("y", 55), strings.Repeat("z", 56),
		strings.Repeat("w", 63), strings.Repeat("v", 64), strings.Repeat("u", 65), strings.Repeat("é", 1000)}
	for _, s := range inputs {
		if got, want := fingerprint(s), secret.Fingerprint(s); got != want {
			t.Errorf("fingerprint of %d bytes = %s, secret.Fingerprint = %s", len(s), got, want)
		}
	}
}
