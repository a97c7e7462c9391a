package envlist

import (
	"slices"
	"strings"
	"testing"

	"github.com/hfbroker/hfbroker/internal/hubapi"
)

func TestBuild(t *testing.T) {
	tests := []struct {
		name   string
		parent []string
		set    map[string]string
		want   []string
	}{
		{
			name:   "the parent's tokens are dropped and the leased one is set",
			parent: []string{"PATH=/bin", "HF_TOKEN=hf_old", "HUGGING_FACE_HUB_TOKEN=hf_older", "HOME=/h"},
			set:    map[string]string{EnvToken: "hf_new", EnvLease: "l1", EnvProfile: "work"},
			want:   []string{"PATH=/bin", "HOME=/h", "HFBROKER_LEASE=l1", "HFBROKER_PROFILE=work", "HF_TOKEN=hf_new"},
		},
		{
			name:   "no parent token survives even when none is set",
			parent: []string{"HF_TOKEN=hf_old", "A=1", "HUGGING_FACE_HUB_TOKEN=x"},
			set:    nil,
			want:   []string{"A=1"},
		},
		{
			name:   "OIDC settings are dropped because they would win over HF_TOKEN",
			parent: []string{"HF_OIDC_RESOURCE=acme/model", "HF_OIDC_ID_TOKEN=eyJ", "HF_OIDCX=kept"},
			set:    map[string]string{EnvToken: "hf_new"},
			want:   []string{"HF_OIDCX=kept", "HF_TOKEN=hf_new"},
		},
		{
			name:   "a set variable replaces the parent's, including a stale lease",
			parent: []string{"HF_ENDPOINT=https://huggingface.co", "HFBROKER_LEASE=old", "B=2"},
			set:    map[string]string{EnvEndpoint: "http://127.0.0.1:9", EnvLease: "new"},
			want:   []string{"B=2", "HFBROKER_LEASE=new", "HF_ENDPOINT=http://127.0.0.1:9"},
		},
		{
			name:   "the last of duplicate parent entries wins",
			parent: []string{"A=1", "B=x", "A=2"},
			want:   []string{"B=x", "A=2"},
		},
		{
			name:   "entries without an equals sign are dropped",
			parent: []string{"GARBAGE", "", "=", "=nokey", "C=", "D==e"},
			want:   []string{"C=", "D==e"},
		},
		{
			name: "set keys that cannot be expressed are dropped",
			set:  map[string]string{"": "x", "A=B": "y", "N\x00": "z", "OK": "1"},
			want: []string{"OK=1"},
		},
		{
			name:   "case differs on Unix, so lower-case names are other variables",
			parent: []string{"hf_token=mine", "Path=/x"},
			want:   []string{"hf_token=mine", "Path=/x"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "case differs on Unix, so lower-case names are other variables" && foldKey("a") != "a" {
				t.Skip("Windows folds case; covered by the fuzz target's invariants")
			}
			got := Build(tc.parent, tc.set)
			if !slices.Equal(got, tc.want) {
				t.Errorf("Build(%q, %v)\n got %q\nwant %q", tc.parent, tc.set, got, tc.want)
			}
		})
	}
}

func TestNested(t *testing.T) {
	tests := []struct {
		name      string
		env       []string
		wantLease string
		wantOK    bool
	}{
		{"a lease in the environment means nested", []string{"A=1", "HFBROKER_LEASE=l-42"}, "l-42", true},
		{"no lease means not nested", []string{"A=1"}, "", false},
		{"an empty lease is the way to force an inner exec", []string{"HFBROKER_LEASE="}, "", false},
		{"the last occurrence counts", []string{"HFBROKER_LEASE=a", "HFBROKER_LEASE=b"}, "b", true},
		{"a malformed entry is not a lease", []string{"HFBROKER_LEASE"}, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lease, ok := Nested(tc.env)
			if lease != tc.wantLease || ok != tc.wantOK {
				t.Errorf("Nested(%q) = %q, %v; want %q, %v", tc.env, lease, ok, tc.wantLease, tc.wantOK)
			}
		})
	}
}

// FuzzBuild checks Build's promises for any parent and set: every key once,
// every valid set variable present exactly once with its value, and no token
// from the parent. parent and set are "\n"-separated KEY=value lists.
func FuzzBuild(f *testing.F) {
	f.Add("HF_TOKEN=hf_old\nA=1\nA=2\nHUGGING_FACE_HUB_TOKEN=x", "HF_TOKEN=hf_new\nHFBROKER_LEASE=l")
	f.Add("=C:=C:\\x\nGARBAGE\nhf_token=y", "HFBROKER_PROFILE=p")
	f.Add("HF_OIDC_RESOURCE=a/b\nHF_TOKEN_PATH=/t", "")
	f.Fuzz(func(t *testing.T, parentList, setList string) {
		parent := strings.Split(parentList, "\n")
		set := make(map[string]string)
		for _, kv := range strings.Split(setList, "\n") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				set[k] = v
			}
		}
		got := Build(parent, set)

		count := make(map[string]int)
		for _, kv := range got {
			k, ok := splitKey(kv)
			if !ok {
				t.Fatalf("malformed entry %q in %q", kv, got)
			}
			count[foldKey(k)]++
			if count[foldKey(k)] > 1 {
				t.Fatalf("key %q appears twice in %q", k, got)
			}
		}
		for k, v := range set {
			if !validKey(k) {
				continue
			}
			if n := count[foldKey(k)]; n != 1 {
				t.Fatalf("set key %q appears %d times in %q", k, n, got)
			}
			if gv, _ := Lookup(got, k); gv != v {
				t.Fatalf("set %s=%q but the child gets %q", k, v, gv)
			}
		}
		for _, name := range []string{EnvToken, EnvLegacyToken} {
			v, ok := Lookup(got, name)
			sv, isSet := set[name]
			switch {
			case ok && !isSet:
				t.Fatalf("%s=%q leaked from the parent into %q", name, v, got)
			case ok && v != sv:
				t.Fatalf("%s=%q is not the value set (%q)", name, v, sv)
			}
		}
	})
}

// TestBuildDropsTheParentsHFTokenPath: issue 19 found `exec` passing the
// parent's HF_TOKEN_PATH to the child, which pointed it at a plaintext token
// (and at stored_tokens beside it) other than the one leased.
func TestBuildDropsTheParentsHFTokenPath(t *testing.T) {
	parent := []string{"HF_HOME=/h/.cache/huggingface", "HF_TOKEN_PATH=/h/secret/token", "HF_TOKEN_PATHX=kept", "A=1"}
	got := Build(parent, map[string]string{EnvToken: "hf_new"})
	want := []string{"HF_HOME=/h/.cache/huggingface", "HF_TOKEN_PATHX=kept", "A=1", "HF_TOKEN=hf_new"}
	if !slices.Equal(got, want) {
		t.Fatalf("Build = %q; want %q", got, want)
	}
}

// With the Hub named only in config.toml, a child given the token itself
// was not told which Hub it is for: huggingface_hub, reading HF_ENDPOINT
// alone, sent it to https://huggingface.co.
func TestEndpointToSetNamesTheConfiguredHub(t *testing.T) {
	const corp = "https://hub.corp.example"
	tests := []struct {
		name     string
		parent   []string
		endpoint string
		want     string // "": nothing to set
	}{
		{"a Hub from config.toml is set", []string{"PATH=/bin"}, corp, corp},
		{"an empty HF_ENDPOINT does not name a Hub", []string{"HF_ENDPOINT="}, corp, corp},
		{"the parent's HF_ENDPOINT already names it", []string{"HF_ENDPOINT=" + corp + "/"}, corp, ""},
		{"the last of duplicate entries decides", []string{"HF_ENDPOINT=" + corp, "HF_ENDPOINT="}, corp, corp},
		{"the default Hub is the child's own default", nil, "https://huggingface.co", ""},
		{"an old daemon that names no endpoint sets nothing", nil, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := EndpointToSet(tc.parent, tc.endpoint)
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("EndpointToSet(%q, %q) = %q, %v; want %q", tc.parent, tc.endpoint, got, ok, tc.want)
			}
		})
	}
}

func TestDefaultEndpointIsHubapis(t *testing.T) {
	if defaultEndpoint != hubapi.DefaultEndpoint {
		t.Errorf("defaultEndpoint %q, hubapi.DefaultEndpoint %q", defaultEndpoint, hubapi.DefaultEndpoint)
	}
}
