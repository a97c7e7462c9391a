package hub

import "github.com/hfbroker/hfbroker/internal/hubapi"

// The whoami-v2 and repo-info types live in internal/hubapi, which the access
// model links without net/http; these names keep the client's callers as
// they were.
type (
	Whoami        = hubapi.Whoami
	Org           = hubapi.Org
	ResourceGroup = hubapi.ResourceGroup
	Auth          = hubapi.Auth
	AuthResource  = hubapi.AuthResource
	AccessToken   = hubapi.AccessToken
	FineGrained   = hubapi.FineGrained
	ScopedEntry   = hubapi.ScopedEntry
	Entity        = hubapi.Entity
	Gated         = hubapi.Gated
	RepoInfo      = hubapi.RepoInfo
)

// Token roles, fine-grained permissions and gating modes: see hubapi.
const (
	RoleRead        = hubapi.RoleRead
	RoleWrite       = hubapi.RoleWrite
	RoleFineGrained = hubapi.RoleFineGrained
	PermRepoRead    = hubapi.PermRepoRead
	PermRepoWrite   = hubapi.PermRepoWrite
	GatedNone       = hubapi.GatedNone
	GatedAuto       = hubapi.GatedAuto
	GatedManual     = hubapi.GatedManual
)
