//go:build unix

package front

import (
	"strings"
	"testing"

	"github.com/hfbroker/hfbroker/internal/hubapi"
)

// FuzzParseRepoPatternIsHubapis: the front and hubapi.ParseRepoPattern
// give every string the same verdict, type and id.
func FuzzParseRepoPatternIsHubapis(f *testing.F) {
	for _, s := range []string{"acme/llm", "datasets/acme/corpus", "spaces/a/b", "models/acme/x", "model/acme/x", "acme/*",
		"datasets/acme/*", "datasets/*", "modelss/*", "a/b/c/d", "acme/llm.git", "a--b/c", "-a/b", "a/b.", "a/..", "*", "a/*/*",
		"acme/" + strings.Repeat("x", 97), "", "/", "acme/", "/llm", "ACME/LLM", "a_b/c.d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, pattern, ok := parseRepoPattern(s)
		ref, err := hubapi.ParseRepoPattern(s, hubapi.RepoModel)
		if ok != (err == nil) {
			t.Fatalf("%q: front ok=%v; hubapi %v", s, ok, err)
		}
		if !ok {
			return
		}
		want := map[hubapi.RepoType]int{hubapi.RepoModel: repoTypeModel, hubapi.RepoDataset: repoTypeDataset, hubapi.RepoSpace: repoTypeSpace}[ref.Type]
		if r.typ != want || r.id != ref.ID() || pattern != ref.IsPattern() {
			t.Fatalf("%q: front %+v pattern=%v; hubapi %+v", s, r, pattern, ref)
		}
	})
}
