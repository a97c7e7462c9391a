//go:build unix

package front

import "strings"

// parseRepoPattern is hubapi.ParseRepoPattern(s, hubapi.RepoModel) without
// its error texts (the full CLI's to print), which need fmt: a repo
// "[models/|datasets/|spaces/]namespace/name", or "namespace/*" with the
// same optional prefix. FuzzParseRepoPatternIsHubapis holds the two to
// the same answers.
func parseRepoPattern(s string) (r repo, pattern, ok bool) {
	if ns, cut := strings.CutSuffix(s, "/*"); cut {
		// "datasets/*" would read as every model of a user "datasets".
		if strings.HasSuffix(ns, "s") && repoTypeWord(strings.TrimSuffix(ns, "s")) >= 0 {
			return repo{}, false, false
		}
		r, ok := parseRepo(ns + "/x")
		r.id = strings.TrimSuffix(r.id, "/x") + "/*"
		return r, true, ok
	}
	r, ok = parseRepo(s)
	return r, false, ok
}

// parseRepo is hubapi.ParseRepo(s, hubapi.RepoModel)'s verdict.
func parseRepo(s string) (repo, bool) {
	if len(s) > 3*maxRepoName {
		return repo{}, false
	}
	parts := strings.Split(s, "/")
	r := repo{typ: repoTypeModel}
	switch len(parts) {
	case 2:
	case 3:
		t := repoTypeWord(parts[0])
		if t < 0 || !strings.HasSuffix(parts[0], "s") {
			return repo{}, false
		}
		r.typ, parts = t, parts[1:]
	default:
		return repo{}, false
	}
	if !repoName(parts[0]) || !repoName(parts[1]) || strings.HasSuffix(parts[1], ".git") {
		return repo{}, false
	}
	r.id = parts[0] + "/" + parts[1]
	return r, true
}

// maxRepoName is hubapi.MaxNameLen.
const maxRepoName = 96

// repoTypeWord is hubapi.ParseRepoType: the type s names, or -1.
func repoTypeWord(s string) int {
	switch s {
	case "model", "models":
		return repoTypeModel
	case "dataset", "datasets":
		return repoTypeDataset
	case "space", "spaces":
		return repoTypeSpace
	}
	return -1
}

// repoName is hubapi's checkName passing.
func repoName(s string) bool {
	switch {
	case s == "", len(s) > maxRepoName,
		strings.Contains(s, "--"), strings.Contains(s, ".."),
		strings.IndexByte("-.", s[0]) >= 0, strings.IndexByte("-.", s[len(s)-1]) >= 0:
		return false
	}
	return allIn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
}
