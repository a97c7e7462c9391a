package hub

import "github.com/hfbroker/hfbroker/internal/hubapi"

// The repo id rules live in internal/hubapi, which the CLI can link without
// net/http; these names keep the Hub client's callers as they were.
type (
	RepoType = hubapi.RepoType
	RepoRef  = hubapi.RepoRef
)

const (
	RepoModel   = hubapi.RepoModel
	RepoDataset = hubapi.RepoDataset
	RepoSpace   = hubapi.RepoSpace
	MaxNameLen  = hubapi.MaxNameLen
)

// ErrInvalidRepo is hubapi.ErrInvalidRepo.
var ErrInvalidRepo = hubapi.ErrInvalidRepo

// ParseRepoType is hubapi.ParseRepoType.
func ParseRepoType(s string) (RepoType, error) { return hubapi.ParseRepoType(s) }

// ParseRepo is hubapi.ParseRepo.
func ParseRepo(s string, defaultType RepoType) (RepoRef, error) {
	return hubapi.ParseRepo(s, defaultType)
}

// ParseRepoPattern is hubapi.ParseRepoPattern: a repo, or "ns/*".
func ParseRepoPattern(s string, defaultType RepoType) (RepoRef, error) {
	return hubapi.ParseRepoPattern(s, defaultType)
}

// clip bounds user input quoted back in an error message.
func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}
