// Package hubapi holds the Hub's rules that need no network, each decided
// once: what a repository id is, what an endpoint is, which hosts count as
// loopback, and the whoami-v2 and repo-info answers as types. The CLI, the
// access model and the git codec link it; it must not import net/http
// (deps_test.go).
package hubapi

import (
	"errors"
	"fmt"
	"strings"
)

// RepoType is the kind of a Hub repository. The zero value is RepoModel,
// because a bare "ns/name" means a model everywhere on the Hub.
type RepoType uint8

// Repository types.
const (
	RepoModel RepoType = iota
	RepoDataset
	RepoSpace
)

// String returns the singular name: "model", "dataset" or "space".
func (t RepoType) String() string {
	switch t {
	case RepoModel:
		return "model"
	case RepoDataset:
		return "dataset"
	case RepoSpace:
		return "space"
	}
	return fmt.Sprintf("RepoType(%d)", uint8(t))
}

// Plural returns the URL segment: "models", "datasets" or "spaces".
func (t RepoType) Plural() string { return t.String() + "s" }

// Valid reports whether t is one of the three repository types.
func (t RepoType) Valid() bool { return t <= RepoSpace }

// MarshalText implements encoding.TextMarshaler so persisted metadata reads
// "model" rather than a number.
func (t RepoType) MarshalText() ([]byte, error) {
	if !t.Valid() {
		return nil, fmt.Errorf("invalid repo type %d", uint8(t))
	}
	return []byte(t.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *RepoType) UnmarshalText(b []byte) error {
	v, err := ParseRepoType(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// ErrInvalidRepo is wrapped by every error ParseRepo and ParseRepoType return.
var ErrInvalidRepo = errors.New("invalid repo")

// ParseRepoType accepts "model", "dataset", "space" and their plurals.
func ParseRepoType(s string) (RepoType, error) {
	switch s {
	case "model", "models":
		return RepoModel, nil
	case "dataset", "datasets":
		return RepoDataset, nil
	case "space", "spaces":
		return RepoSpace, nil
	}
	return 0, fmt.Errorf("%w type %q: want model, dataset or space", ErrInvalidRepo, clip(s))
}

// RepoRef names one Hub repository.
type RepoRef struct {
	Type      RepoType `json:"type"`
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
}

// MaxNameLen is the Hub's limit on each of the namespace and the repo name.
const MaxNameLen = 96

// ParseRepo parses "ns/name", "models/ns/name", "datasets/ns/name" or
// "spaces/ns/name". A bare "ns/name" gets defaultType. Both parts follow the
// Hub's rules (huggingface_hub validate_repo_id): ASCII letters, digits, '-',
// '_' and '.', at most 96 characters, no "--" or "..", not starting or ending
// with '-' or '.', and the name not ending in ".git".
func ParseRepo(s string, defaultType RepoType) (RepoRef, error) {
	if !defaultType.Valid() {
		return RepoRef{}, fmt.Errorf("%w: default type %d", ErrInvalidRepo, uint8(defaultType))
	}
	if len(s) > 3*MaxNameLen {
		return RepoRef{}, fmt.Errorf("%w %q: too long", ErrInvalidRepo, clip(s))
	}
	parts := strings.Split(s, "/")
	ref := RepoRef{Type: defaultType}
	switch len(parts) {
	case 2:
	case 3:
		t, err := ParseRepoType(parts[0])
		if err != nil || !strings.HasSuffix(parts[0], "s") {
			return RepoRef{}, fmt.Errorf("%w %q: the prefix must be models/, datasets/ or spaces/", ErrInvalidRepo, clip(s))
		}
		ref.Type = t
		parts = parts[1:]
	default:
		return RepoRef{}, fmt.Errorf("%w %q: want namespace/name, e.g. acme/llm or datasets/acme/corpus", ErrInvalidRepo, clip(s))
	}
	ref.Namespace, ref.Name = parts[0], parts[1]
	if err := checkName("namespace", ref.Namespace); err != nil {
		return RepoRef{}, fmt.Errorf("%w %q: %v", ErrInvalidRepo, clip(s), err)
	}
	if err := checkName("name", ref.Name); err != nil {
		return RepoRef{}, fmt.Errorf("%w %q: %v", ErrInvalidRepo, clip(s), err)
	}
	if strings.HasSuffix(ref.Name, ".git") {
		return RepoRef{}, fmt.Errorf("%w %q: drop the .git suffix", ErrInvalidRepo, clip(s))
	}
	return ref, nil
}

// ValidRepoParts reports whether namespace and name, taken as they are (no
// unescaping), form a repo id ParseRepo accepts. The proxy matches URL
// segments with it.
func ValidRepoParts(namespace, name string) bool {
	return checkName("namespace", namespace) == nil && checkName("name", name) == nil &&
		!strings.HasSuffix(name, ".git")
}

// checkName applies the Hub's per-part rules.
func checkName(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("the %s is empty", what)
	case len(s) > MaxNameLen:
		return fmt.Errorf("the %s is longer than %d characters", what, MaxNameLen)
	case strings.Contains(s, "--"), strings.Contains(s, ".."):
		return fmt.Errorf("the %s cannot contain -- or ..", what)
	case strings.IndexByte("-.", s[0]) >= 0, strings.IndexByte("-.", s[len(s)-1]) >= 0:
		return fmt.Errorf("the %s cannot start or end with - or .", what)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("the %s may hold only letters, digits, '-', '_' and '.'", what)
		}
	}
	return nil
}

// Valid reports whether r would survive ParseRepo.
func (r RepoRef) Valid() bool {
	_, err := ParseRepo(r.Type.Plural()+"/"+r.Namespace+"/"+r.Name, RepoModel)
	return r.Type.Valid() && err == nil
}

// ID returns "ns/name", the Hub's repo id without the type.
func (r RepoRef) ID() string { return r.Namespace + "/" + r.Name }

// String returns "ns/name" for models and "datasets/ns/name" or
// "spaces/ns/name" otherwise, the form ParseRepo reads back.
func (r RepoRef) String() string {
	if r.Type == RepoModel {
		return r.ID()
	}
	return r.Type.Plural() + "/" + r.ID()
}

// APIPath returns "/api/{type}s/ns/name".
func (r RepoRef) APIPath() string { return "/api/" + r.Type.Plural() + "/" + r.ID() }

// WebPath returns the repo's page path: "/ns/name" for models,
// "/datasets/ns/name" otherwise. Gated-access requests are made there.
func (r RepoRef) WebPath() string { return "/" + r.String() }

// clip bounds user input quoted back in an error message.
func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

// Wildcard is the name of a repo pattern that stands for every repo of its
// namespace and type: "acme/*", "datasets/acme/*".
const Wildcard = "*"

// ParseRepoPattern parses what ParseRepo does, and also "ns/*" (with an
// optional type prefix): every repo of that namespace and type. No other
// wildcard is allowed.
func ParseRepoPattern(s string, defaultType RepoType) (RepoRef, error) {
	if ns, ok := strings.CutSuffix(s, "/"+Wildcard); ok {
		// Parse the namespace with a stand-in name, so the same rules apply.
		// "datasets/*" would read as every model of a user "datasets": it
		// is refused, the type needs its namespace ("datasets/acme/*").
		r, err := ParseRepo(ns+"/x", defaultType)
		if _, typeWord := ParseRepoType(strings.TrimSuffix(ns, "s")); typeWord == nil && strings.HasSuffix(ns, "s") {
			err = errors.New("a type prefix needs a namespace")
		}
		if err != nil {
			return RepoRef{}, fmt.Errorf("%w %q: a pattern is namespace/*, e.g. acme/* or datasets/acme/*", ErrInvalidRepo, clip(s))
		}
		r.Name = Wildcard
		return r, nil
	}
	return ParseRepo(s, defaultType)
}

// ValidPattern reports whether r is a valid repo or a valid "ns/*" pattern.
func (r RepoRef) ValidPattern() bool {
	if r.IsPattern() {
		r.Name = "x"
	}
	return r.Valid()
}

// IsPattern reports whether r stands for every repo of its namespace.
func (r RepoRef) IsPattern() bool { return r.Name == Wildcard }

// Covers reports whether r, a repo or a pattern, covers the repo other,
// comparing as the Hub does: the type exactly, the namespace and name without
// regard to case.
func (r RepoRef) Covers(other RepoRef) bool {
	if r.Type != other.Type || !strings.EqualFold(r.Namespace, other.Namespace) {
		return false
	}
	return r.IsPattern() || strings.EqualFold(r.Name, other.Name)
}
