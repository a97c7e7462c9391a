// Package envlist holds the rules for a child's environment block that
// internal/runenv applies: what hfbroker sets, what it strips, and how a
// name is compared. It links nothing but strings and slices, so that
// the front end (internal/front), whose start-up is every hot command's,
// applies the same rules without linking os.
package envlist

import (
	"slices"
	"strings"
)

// Variables hfbroker sets or strips in a child's environment.
const (
	// EnvToken is what huggingface_hub, the hf CLI and most tools read.
	EnvToken = "HF_TOKEN"
	// EnvLegacyToken is read by huggingface_hub when HF_TOKEN is unset.
	EnvLegacyToken = "HUGGING_FACE_HUB_TOKEN"
	// EnvProfile names the profile whose token the child holds.
	EnvProfile = "HFBROKER_PROFILE"
	// EnvLease holds the lease id; its presence marks a nested exec.
	EnvLease = "HFBROKER_LEASE"
	// EnvEndpoint points the child at the local proxy in proxy mode, and
	// at its token's Hub when only config.toml names it (EndpointToSet).
	EnvEndpoint = "HF_ENDPOINT"
	// EnvTokenPath names huggingface_hub's token file (and, beside it,
	// stored_tokens): the parent's plaintext tokens.
	EnvTokenPath = "HF_TOKEN_PATH"
	// envOIDCPrefix covers HF_OIDC_RESOURCE and HF_OIDC_ID_TOKEN.
	envOIDCPrefix = "HF_OIDC_"
)

// stripped reports whether a parent variable must not reach the child.
//
// HF_TOKEN and HUGGING_FACE_HUB_TOKEN are the user's own token: left in, the
// legacy name would still be read by tools that ignore HF_TOKEN, and a stale
// HF_TOKEN would compete with the leased one. HF_OIDC_* go too: when
// HF_OIDC_RESOURCE is set huggingface_hub performs a Trusted Publisher
// exchange that takes precedence over HF_TOKEN, so the leased token would be
// silently ignored.
//
// HF_TOKEN_PATH goes (issue 19): it points the child at the parent's
// plaintext token file, and through it at stored_tokens beside it (every
// saved account), which the leased token is meant to replace: a child given
// a read lease could read a write token from there, and tools that read only
// the file (Rust hf-hub, swift-transformers) would use it instead of the
// lease. It is huggingface_hub's only token-file variable
// (HF_STORED_TOKENS_PATH is derived from it, not read from the environment).
// HF_HOME stays: it is first the cache, and the child needs its downloads;
// 'hfbroker import --remove-plaintext' empties $HF_HOME/token.
func stripped(key string) bool {
	return keyEqual(key, EnvToken) || keyEqual(key, EnvLegacyToken) ||
		keyEqual(key, EnvTokenPath) || hasKeyPrefix(key, envOIDCPrefix)
}

// Build returns the child's environment: parent without the variables that
// would carry or override another token, plus set. Each key appears once; a
// key in set replaces the parent's, and among duplicates in parent the last
// one wins, as os/exec does. Entries without '=' are dropped, as are set keys
// that cannot be expressed in an environment (empty, or containing '=' or
// NUL). Keys compare case-sensitively on Unix and case-insensitively on
// Windows. Parent order is kept; set follows, sorted by key.
func Build(parent []string, set map[string]string) []string {
	setKeys := make([]string, 0, len(set))
	for k := range set {
		if validKey(k) {
			setKeys = append(setKeys, k)
		}
	}
	slices.Sort(setKeys)
	// Dedupe by a folded key so Windows' case-insensitive names collapse.
	inSet := make(map[string]bool, len(setKeys))
	for _, k := range setKeys {
		inSet[foldKey(k)] = true
	}

	// Walk the parent backwards so the last occurrence of a key is the one
	// kept, then restore the order.
	seen := make(map[string]bool, len(parent))
	kept := make([]string, 0, len(parent)+len(setKeys))
	for i := len(parent) - 1; i >= 0; i-- {
		kv := parent[i]
		k, ok := splitKey(kv)
		if !ok || stripped(k) {
			continue
		}
		fk := foldKey(k)
		if inSet[fk] || seen[fk] {
			continue
		}
		seen[fk] = true
		kept = append(kept, kv)
	}
	slices.Reverse(kept)
	for _, k := range setKeys {
		kept = append(kept, k+"="+set[k])
	}
	return kept
}

// defaultEndpoint is hubapi.DefaultEndpoint: huggingface_hub's Hub when
// HF_ENDPOINT is unset.
const defaultEndpoint = "https://huggingface.co"

// EndpointToSet returns the HF_ENDPOINT a child given the Hub token itself
// (not a proxy lease's) must have, when parent does not name the Hub:
// endpoint, the Hub the token is for, came from config.toml, which the
// child's tools (huggingface_hub, the hf CLI) do not read, so with
// HF_ENDPOINT unset or empty they would send the token to
// https://huggingface.co instead. False: nothing to set (parent names the
// Hub, or endpoint is the default, which the child uses by itself).
func EndpointToSet(parent []string, endpoint string) (string, bool) {
	if v, _ := Lookup(parent, EnvEndpoint); v != "" || endpoint == "" || endpoint == defaultEndpoint {
		return "", false
	}
	return endpoint, true
}

// Nested reports the lease of an enclosing hfbroker exec, read from env. An
// empty HFBROKER_LEASE counts as unset, so `HFBROKER_LEASE= hfbroker exec …`
// is the explicit way out of the nesting guard (aws-vault's "unset AWS_VAULT
// to force"). The last occurrence wins, as in Build.
func Nested(env []string) (lease string, ok bool) {
	for i := len(env) - 1; i >= 0; i-- {
		k, ok := splitKey(env[i])
		if ok && keyEqual(k, EnvLease) {
			v := env[i][len(k)+1:]
			return v, v != ""
		}
	}
	return "", false
}

// Lookup returns the value of key in env, the last occurrence winning.
func Lookup(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		k, ok := splitKey(env[i])
		if ok && keyEqual(k, key) {
			return env[i][len(k)+1:], true
		}
	}
	return "", false
}

// splitKey returns the name of a KEY=value entry. The '=' is looked for from
// the second byte on, so Windows' hidden per-drive entries ("=C:=C:\dir")
// keep their name; an entry with no '=' after that is malformed.
func splitKey(kv string) (string, bool) {
	if len(kv) < 2 {
		return "", false
	}
	i := strings.IndexByte(kv[1:], '=')
	if i < 0 {
		return "", false
	}
	return kv[:i+1], true
}

func validKey(k string) bool {
	return k != "" && !strings.ContainsAny(k, "=\x00")
}

func keyEqual(a, b string) bool { return foldKey(a) == foldKey(b) }

func hasKeyPrefix(k, prefix string) bool {
	return len(k) >= len(prefix) && keyEqual(k[:len(prefix)], prefix)
}
