// Package runenv builds a child's environment and runs it in place of
// hfbroker or under supervision.
package runenv

import "github.com/hfbroker/hfbroker/internal/runenv/envlist"

// Variables hfbroker sets or strips in a child's environment (envlist's).
const (
	EnvToken       = envlist.EnvToken
	EnvLegacyToken = envlist.EnvLegacyToken
	EnvProfile     = envlist.EnvProfile
	EnvLease       = envlist.EnvLease
	EnvEndpoint    = envlist.EnvEndpoint
	EnvTokenPath   = envlist.EnvTokenPath
)

// Build is envlist.Build: parent without the variables that must not reach
// a child, then set.
func Build(parent []string, set map[string]string) []string { return envlist.Build(parent, set) }

// EndpointToSet is envlist.EndpointToSet: the HF_ENDPOINT a child given the
// Hub token needs when only config.toml names its Hub.
func EndpointToSet(parent []string, endpoint string) (string, bool) {
	return envlist.EndpointToSet(parent, endpoint)
}

// Nested is envlist.Nested: the lease id of an enclosing hfbroker exec.
func Nested(env []string) (lease string, ok bool) { return envlist.Nested(env) }

func lookup(env []string, key string) (string, bool) { return envlist.Lookup(env, key) }
