package hubapi

import (
	"encoding/json"
	"fmt"
	"time"
)

// Whoami is the whole answer of GET /api/whoami-v2 (hf-hub-auth.md §1.2).
// It holds no secret, so the daemon persists it as JSON; the tags are the
// Hub's own names so a stored copy reads like the wire format.
type Whoami struct {
	Type          string  `json:"type"` // "user"; HJS also knows "org" and "app"
	ID            string  `json:"id"`
	Name          string  `json:"name"`
	Fullname      string  `json:"fullname"`
	Email         *string `json:"email"`
	EmailVerified bool    `json:"emailVerified"`
	IsPro         bool    `json:"isPro"`
	CanPay        bool    `json:"canPay"`
	BillingMode   string  `json:"billingMode,omitempty"`
	PeriodEnd     *int64  `json:"periodEnd"` // unix seconds
	AvatarURL     string  `json:"avatarUrl"`
	Orgs          []Org   `json:"orgs"`
	Auth          Auth    `json:"auth"`
}

// Org is one entry of whoami's orgs[]: the user's membership and what the
// org's security settings do to the token that asked.
type Org struct {
	Type        string  `json:"type"` // "org"
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	Fullname    string  `json:"fullname"`
	Email       *string `json:"email,omitempty"`
	CanPay      bool    `json:"canPay"`
	BillingMode string  `json:"billingMode,omitempty"`
	PeriodEnd   *int64  `json:"periodEnd,omitempty"`
	AvatarURL   string  `json:"avatarUrl"`
	Plan        string  `json:"plan,omitempty"`      // team, enterprise, plus, academia
	RoleInOrg   string  `json:"roleInOrg,omitempty"` // admin, write, contributor, read, no_access
	// SecurityRestrictions is why this token cannot reach the org's
	// resources: mfa, token-policy, token-revoked, sso, ip.
	SecurityRestrictions []string        `json:"securityRestrictions"`
	ResourceGroups       []ResourceGroup `json:"resourceGroups"`
}

// ResourceGroup is a subset of an org's repos with its own role.
type ResourceGroup struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
}

// Auth describes the credential that called whoami.
type Auth struct {
	Type        string        `json:"type,omitempty"` // "access_token", "app_token", ...
	AccessToken *AccessToken  `json:"accessToken,omitempty"`
	ExpiresAt   *time.Time    `json:"expiresAt,omitempty"`
	Resource    *AuthResource `json:"resource,omitempty"`
}

// AuthResource is auth.resource; its meaning is unverified (probably the
// resource an exchanged token is bound to).
type AuthResource struct {
	Sub string `json:"sub"`
}

// Token roles as whoami reports them in auth.accessToken.role.
const (
	RoleRead        = "read"
	RoleWrite       = "write"
	RoleFineGrained = "fineGrained"
)

// AccessToken is auth.accessToken: a user access token's metadata.
type AccessToken struct {
	DisplayName string       `json:"displayName"`
	Role        string       `json:"role"` // read, write, fineGrained, god
	CreatedAt   time.Time    `json:"createdAt"`
	FineGrained *FineGrained `json:"fineGrained,omitempty"`
}

// FineGrained is a fine-grained token's grants.
type FineGrained struct {
	Scoped            []ScopedEntry `json:"scoped"`
	Global            []string      `json:"global,omitempty"`
	CanReadGatedRepos bool          `json:"canReadGatedRepos"`
}

// ScopedEntry grants permissions on one entity (user, org or repo).
type ScopedEntry struct {
	Entity      Entity   `json:"entity"`
	Permissions []string `json:"permissions"`
}

// Entity is what a scoped entry applies to. Type is one of user, org, model,
// dataset, space, bucket, kernel, collection, resource-group, oauth-app.
type Entity struct {
	ID   string `json:"_id"`
	Type string `json:"type"`
	Name string `json:"name,omitempty"`
}

// Fine-grained permissions the access model reads.
const (
	PermRepoRead  = "repo.content.read"
	PermRepoWrite = "repo.write"
)

// Gated is a repo's gating mode: "" (not gated), "auto" or "manual". The Hub
// sends false or a string, so Gated reads both and writes them back.
type Gated string

// Gating modes.
const (
	GatedNone   Gated = ""
	GatedAuto   Gated = "auto"
	GatedManual Gated = "manual"
)

// IsGated reports whether users must be granted access to read the repo.
func (g Gated) IsGated() bool { return g != GatedNone }

// UnmarshalJSON accepts false, null, true (treated as "manual", the strict
// reading) and any string.
func (g *Gated) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("gated: %w", err)
	}
	switch v := v.(type) {
	case nil:
		*g = GatedNone
	case bool:
		*g = GatedNone
		if v {
			*g = GatedManual
		}
	case string:
		*g = Gated(v)
	default:
		return fmt.Errorf("gated: want false or a string, got %s", clip(string(b)))
	}
	return nil
}

// MarshalJSON writes false for an ungated repo, as the Hub does.
func (g Gated) MarshalJSON() ([]byte, error) {
	if g == GatedNone {
		return []byte("false"), nil
	}
	return json.Marshal(string(g))
}

// RepoInfo is the part of GET /api/{type}s/{ns}/{name} the broker uses.
type RepoInfo struct {
	ObjectID     string     `json:"_id,omitempty"` // the id fine-grained scopes name
	ID           string     `json:"id"`            // "ns/name"
	Author       string     `json:"author,omitempty"`
	SHA          string     `json:"sha,omitempty"`
	Private      bool       `json:"private"`
	Gated        Gated      `json:"gated"`
	Disabled     bool       `json:"disabled,omitempty"`
	LastModified *time.Time `json:"lastModified,omitempty"`
}
