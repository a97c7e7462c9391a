package gitcred

import (
	"errors"
	"net/url"
	"strings"

	"github.com/hfbroker/hfbroker/internal/hubapi"
)

// ErrNoMatch is matched (errors.Is) by every refusal from Match: the request
// is not for the endpoint, so the helper must answer nothing.
var ErrNoMatch = errors.New("git credential request is not for this endpoint")

// ErrBadEndpoint reports an endpoint that Match will never answer for: not
// https, or plain http on a host that is not loopback.
var ErrBadEndpoint = errors.New("endpoint must be https, or http on a loopback host")

// ErrBadRepoPath is matched (errors.Is) when path= is present but names no
// Hub repository.
var ErrBadRepoPath = errors.New("git credential path is not a Hub repository")

// noMatch keeps the reason in the text but makes errors.Is(err, ErrNoMatch)
// true. Reasons never quote the request's values.
type noMatch struct{ reason string }

func (e *noMatch) Error() string        { return "git credential request: " + e.reason }
func (e *noMatch) Is(target error) bool { return target == ErrNoMatch }

// Repository types, as the Hub's API names them.
const (
	TypeModel   = "model"
	TypeDataset = "dataset"
	TypeSpace   = "space"
)

// RepoPath names the Hub repository a git request is for.
type RepoPath struct {
	Type      string // TypeModel, TypeDataset or TypeSpace
	Namespace string
	Name      string
}

// ID is the Hub's repo id, "namespace/name".
func (p RepoPath) ID() string { return p.Namespace + "/" + p.Name }

// String is the repo id with its type, e.g. "dataset:acme/data".
func (p RepoPath) String() string { return p.Type + ":" + p.ID() }

// Target is what a request that Match accepted is for.
type Target struct {
	// Host is the endpoint's host, lowercased, with the default port removed.
	Host string
	// Repo is nil when git sent no path (credential.useHttpPath is off).
	Repo *RepoPath
}

// Match answers whether req is for endpoint. Only the endpoint's own protocol
// and host[:port] match, by exact equality after ASCII lowercasing and
// dropping the scheme's default port: no suffix, prefix or substring match
// (VS Code's unanchored /github\.com/ matched github.com.attacker.example),
// and no catch-all (CVE-2024-53858, CVE-2020-11008).
func Match(req *Request, endpoint *url.URL) (Target, error) {
	if endpoint == nil || endpoint.Host == "" {
		return Target{}, ErrBadEndpoint
	}
	scheme := lowerASCII(endpoint.Scheme)
	switch scheme {
	case "https":
	case "http":
		if !hubapi.IsLoopback(endpoint.Hostname()) {
			return Target{}, ErrBadEndpoint
		}
	default:
		return Target{}, ErrBadEndpoint
	}
	if req == nil {
		return Target{}, &noMatch{"no request"}
	}
	// CVE-2020-11008: an empty protocol or host must never mean "any".
	if req.Protocol == "" {
		return Target{}, &noMatch{"no protocol"}
	}
	if req.Host == "" {
		return Target{}, &noMatch{"no host"}
	}
	// The protocol is compared exactly: git only ever sends it lowercase
	// (an "HTTPS://" remote finds no git-remote-HTTPS), so anything else
	// did not come from git's http transport.
	if req.Protocol != scheme {
		return Target{}, &noMatch{"protocol is not " + scheme}
	}
	want := canonicalHost(scheme, endpoint.Host)
	if canonicalHost(scheme, req.Host) != want {
		return Target{}, &noMatch{"host does not match the endpoint"}
	}
	t := Target{Host: want}
	path := req.Path
	// A Hub served below a path (https://mirror.example/hf) has its repos
	// below it too: git names them "hf/acme/llm.git", and the endpoint
	// itself (huggingface_hub's url={ENDPOINT}) "hf". A path of the host
	// outside the endpoint's is not the endpoint.
	if prefix := strings.Trim(endpoint.Path, "/"); prefix != "" && path != "" {
		path = strings.Trim(path, "/")
		if path != prefix && !strings.HasPrefix(path, prefix+"/") {
			return Target{}, &noMatch{"path is not below the endpoint's path"}
		}
		path = strings.TrimPrefix(path, prefix)
	}
	if path != "" {
		repo, err := ParseRepoPath(path)
		if err != nil {
			return Target{}, err
		}
		t.Repo = repo
	}
	return t, nil
}

// canonicalHost lowercases host[:port] and drops the scheme's default port, so
// "HuggingFace.CO:443" and "huggingface.co" compare equal for https.
func canonicalHost(scheme, host string) string {
	host = lowerASCII(host)
	def := map[string]string{"https": ":443", "http": ":80"}[scheme]
	if def != "" && strings.HasSuffix(host, def) {
		host = strings.TrimSuffix(host, def)
	}
	return host
}

// repoSuffixes are the git and git-lfs endpoints below a repository URL that
// git may include in path=.
var repoSuffixes = []string{"/info/refs", "/git-upload-pack", "/git-receive-pack"}

// ParseRepoPath maps a credential path= to a Hub repository, following the
// Hub's URL layout: "ns/name" (model), "models/ns/name", "datasets/ns/name",
// "spaces/ns/name", each with an optional ".git" and an optional trailing git
// or LFS endpoint ("/info/lfs/objects/batch", "/info/refs", …).
func ParseRepoPath(path string) (*RepoPath, error) {
	p := strings.Trim(path, "/")
	if i := strings.Index(p, "/info/lfs"); i >= 0 {
		p = p[:i]
	}
	for _, s := range repoSuffixes {
		p = strings.TrimSuffix(p, s)
	}
	p = strings.TrimSuffix(p, ".git")
	// "datasets/acme" is a type prefix with a missing name, not a model in
	// a namespace the Hub reserves.
	if parts := strings.Split(p, "/"); len(parts) == 2 && (parts[0] == "models" || parts[0] == "datasets" || parts[0] == "spaces") {
		return nil, ErrBadRepoPath
	}
	// The repo id rule is the Hub's, decided once in hubapi.
	ref, err := hubapi.ParseRepo(p, hubapi.RepoModel)
	if err != nil {
		return nil, ErrBadRepoPath
	}
	return &RepoPath{Type: ref.Type.String(), Namespace: ref.Namespace, Name: ref.Name}, nil
}
