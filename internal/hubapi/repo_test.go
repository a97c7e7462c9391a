package hubapi_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hfbroker/hfbroker/internal/hubapi"
)

func TestParseRepo(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		def     hubapi.RepoType
		want    hubapi.RepoRef
		wantErr string // substring; "" means success
	}{
		{name: "a bare ns/name is a model", in: "acme/llm", want: hubapi.RepoRef{Type: hubapi.RepoModel, Namespace: "acme", Name: "llm"}},
		{name: "a bare ns/name takes the default type", in: "acme/corpus", def: hubapi.RepoDataset, want: hubapi.RepoRef{Type: hubapi.RepoDataset, Namespace: "acme", Name: "corpus"}},
		{name: "a datasets/ prefix makes a dataset", in: "datasets/acme/corpus", want: hubapi.RepoRef{Type: hubapi.RepoDataset, Namespace: "acme", Name: "corpus"}},
		{name: "a spaces/ prefix makes a space", in: "spaces/acme/demo", want: hubapi.RepoRef{Type: hubapi.RepoSpace, Namespace: "acme", Name: "demo"}},
		{name: "a models/ prefix overrides a dataset default", in: "models/acme/llm", def: hubapi.RepoDataset, want: hubapi.RepoRef{Type: hubapi.RepoModel, Namespace: "acme", Name: "llm"}},
		{name: "dots, dashes and underscores inside are fine", in: "Meta-Llama/Llama_3.1-8B", want: hubapi.RepoRef{Namespace: "Meta-Llama", Name: "Llama_3.1-8B"}},
		{name: "a 96-character name is fine", in: "acme/" + strings.Repeat("a", 96), want: hubapi.RepoRef{Namespace: "acme", Name: strings.Repeat("a", 96)}},
		{name: "a name alone lacks the namespace", in: "gpt2", wantErr: "want namespace/name"},
		{name: "four parts are refused", in: "datasets/acme/corpus/extra", wantErr: "want namespace/name"},
		{name: "a singular prefix is refused", in: "dataset/acme/corpus", wantErr: "prefix must be"},
		{name: "an unknown prefix is refused", in: "buckets/acme/b", wantErr: "prefix must be"},
		{name: "an empty namespace is refused", in: "/llm", wantErr: "namespace is empty"},
		{name: "an empty name is refused", in: "acme/", wantErr: "name is empty"},
		{name: "a 97-character name is refused", in: "acme/" + strings.Repeat("a", 97), wantErr: "longer than 96"},
		{name: "a 97-character namespace is refused", in: strings.Repeat("a", 97) + "/x", wantErr: "longer than 96"},
		{name: "double dots are refused", in: "acme/a..b", wantErr: "-- or .."},
		{name: "a path traversal is refused", in: "../llm", wantErr: "-- or .."},
		{name: "double dashes are refused", in: "acme/a--b", wantErr: "-- or .."},
		{name: "a leading dash is refused", in: "-acme/llm", wantErr: "start or end"},
		{name: "a trailing dot is refused", in: "acme/llm.", wantErr: "start or end"},
		{name: "a space is refused", in: "acme/my llm", wantErr: "letters, digits"},
		{name: "a newline is refused", in: "acme/llm\n", wantErr: "letters, digits"},
		{name: "non-ASCII letters are refused", in: "acme/modèle", wantErr: "letters, digits"},
		{name: "a .git suffix is refused with a hint", in: "acme/llm.git", wantErr: "drop the .git suffix"},
		{name: "a query is refused", in: "acme/llm?x=1", wantErr: "letters, digits"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := hubapi.ParseRepo(tc.in, tc.def)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseRepo(%q) = %+v, want an error", tc.in, got)
				}
				if !errors.Is(err, hubapi.ErrInvalidRepo) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseRepo(%q) error = %q, want ErrInvalidRepo containing %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRepo(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("ParseRepo(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestRepoRefForms(t *testing.T) {
	tests := []struct {
		name          string
		ref           hubapi.RepoRef
		str, api, web string
	}{
		{"a model prints without a prefix", hubapi.RepoRef{hubapi.RepoModel, "acme", "llm"}, "acme/llm", "/api/models/acme/llm", "/acme/llm"},
		{"a dataset prints with datasets/", hubapi.RepoRef{hubapi.RepoDataset, "acme", "c"}, "datasets/acme/c", "/api/datasets/acme/c", "/datasets/acme/c"},
		{"a space prints with spaces/", hubapi.RepoRef{hubapi.RepoSpace, "acme", "d"}, "spaces/acme/d", "/api/spaces/acme/d", "/spaces/acme/d"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.ref.String(); got != tc.str {
				t.Errorf("String() = %q, want %q", got, tc.str)
			}
			if got := tc.ref.APIPath(); got != tc.api {
				t.Errorf("APIPath() = %q, want %q", got, tc.api)
			}
			if got := tc.ref.WebPath(); got != tc.web {
				t.Errorf("WebPath() = %q, want %q", got, tc.web)
			}
			back, err := hubapi.ParseRepo(tc.ref.String(), hubapi.RepoModel)
			if err != nil || back != tc.ref {
				t.Errorf("ParseRepo(String()) = %+v, %v; want %+v", back, err, tc.ref)
			}
			b, err := json.Marshal(tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			var again hubapi.RepoRef
			if err := json.Unmarshal(b, &again); err != nil || again != tc.ref {
				t.Errorf("JSON round trip of %s = %+v, %v", b, again, err)
			}
		})
	}
}

func TestParseRepoType(t *testing.T) {
	for in, want := range map[string]hubapi.RepoType{"model": hubapi.RepoModel, "models": hubapi.RepoModel, "dataset": hubapi.RepoDataset, "datasets": hubapi.RepoDataset, "space": hubapi.RepoSpace, "spaces": hubapi.RepoSpace} {
		if got, err := hubapi.ParseRepoType(in); err != nil || got != want {
			t.Errorf("ParseRepoType(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "Model", "bucket", "kernels"} {
		if _, err := hubapi.ParseRepoType(in); !errors.Is(err, hubapi.ErrInvalidRepo) {
			t.Errorf("ParseRepoType(%q) error = %v, want ErrInvalidRepo", in, err)
		}
	}
}

// FuzzParseRepo checks that whatever ParseRepo accepts is a valid ref that
// prints back to an equivalent string, and holds no byte outside the Hub's
// alphabet (the ref ends up in URL paths and git credential answers).
func FuzzParseRepo(f *testing.F) {
	for _, s := range []string{"acme/llm", "datasets/acme/corpus", "spaces/a/b", "models/x/y", "a..b/c", "-a/b", "acme/llm.git", "a/b/c/d", "/", ""} {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, s string, def uint8) {
		ref, err := hubapi.ParseRepo(s, hubapi.RepoType(def%3))
		if err != nil {
			if strings.Contains(err.Error(), "\n") && !strings.Contains(s, "\n") {
				t.Fatalf("error text has a newline the input did not: %q", err)
			}
			return
		}
		if !ref.Valid() {
			t.Fatalf("ParseRepo(%q) = %+v, which is not Valid", s, ref)
		}
		for _, part := range []string{ref.Namespace, ref.Name} {
			if part == "" || len(part) > hubapi.MaxNameLen || strings.ContainsAny(part, "/ \t\r\n%?#") {
				t.Fatalf("ParseRepo(%q) accepted part %q", s, part)
			}
		}
		back, err := hubapi.ParseRepo(ref.String(), hubapi.RepoModel)
		if err != nil || back != ref {
			t.Fatalf("ParseRepo(%q).String() = %q reparses to %+v, %v", s, ref.String(), back, err)
		}
	})
}

// Issue 20: a lease names repos or "ns/*" patterns; a pattern covers every
// repo of its namespace and type, compared as the Hub compares ids.
func TestRepoPatterns(t *testing.T) {
	for _, tc := range []struct {
		in    string
		ok    bool
		cover []string
		miss  []string
	}{
		{in: "acme/*", ok: true, cover: []string{"acme/llm", "ACME/Other"}, miss: []string{"datasets/acme/llm", "acme-x/llm", "other/acme"}},
		{in: "datasets/acme/*", ok: true, cover: []string{"datasets/acme/corpus"}, miss: []string{"acme/corpus", "spaces/acme/corpus"}},
		{in: "acme/llm", ok: true, cover: []string{"acme/llm", "Acme/LLM"}, miss: []string{"acme/llm-ft", "datasets/acme/llm"}},
		{in: "*/*"}, {in: "acme/l*"}, {in: "acme/**"}, {in: "*"}, {in: "-acme/*"}, {in: "acme/*/x"}, {in: "datasets/*"},
	} {
		p, err := hubapi.ParseRepoPattern(tc.in, hubapi.RepoModel)
		if (err == nil) != tc.ok {
			t.Errorf("hubapi.ParseRepoPattern(%q) error %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if !tc.ok {
			continue
		}
		if !p.ValidPattern() || p.String() != tc.in {
			t.Errorf("%q: ValidPattern %v, String %q", tc.in, p.ValidPattern(), p.String())
		}
		for _, c := range tc.cover {
			r, _ := hubapi.ParseRepo(c, hubapi.RepoModel)
			if !p.Covers(r) {
				t.Errorf("%q does not cover %s", tc.in, c)
			}
		}
		for _, c := range tc.miss {
			r, _ := hubapi.ParseRepo(c, hubapi.RepoModel)
			if p.Covers(r) {
				t.Errorf("%q covers %s", tc.in, c)
			}
		}
	}
	if _, err := hubapi.ParseRepo("acme/*", hubapi.RepoModel); err == nil {
		t.Error("ParseRepo takes a pattern: only leases may name one")
	}
}
