//go:build unix

package front

import (
	"crypto/sha256"
	"encoding/hex"
)

// fingerprint is secret.Fingerprint, the first 8 hex digits of s's SHA-256,
// without linking internal/secret (and its log/slog). git's store and erase,
// which send it, run after every git operation. TestFingerprintIsSecrets
// checks it against secret.Fingerprint.
func fingerprint(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}
