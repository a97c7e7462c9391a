package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 17: config.toml's keys were documented nowhere. Every key the code
// reads (Config's toml tags) must have a row in docs/CONFIG.md.
func TestEveryConfigKeyIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/CONFIG.md")
	if err != nil {
		t.Fatal(err)
	}
	keys := Keys()
	if len(keys) < 8 {
		t.Fatalf("Keys() = %v; the reflection walked too little of Config", keys)
	}
	for _, k := range keys {
		if !strings.Contains(string(doc), "| `"+k.Name+"` |") {
			t.Errorf("config key %q (%s) has no row in docs/CONFIG.md", k.Name, k.Type)
		}
	}
}

func TestKeysAreDottedWithTypes(t *testing.T) {
	got := map[string]string{}
	for _, k := range Keys() {
		got[k.Name] = k.Type
	}
	for name, typ := range map[string]string{
		"endpoint": "string", "backend": "string", "lease.default_ttl": "duration",
		"lease.git_ttl": "duration", "git.prefer": "string", "route": "list of tables", "route.match": "string",
	} {
		if got[name] != typ {
			t.Errorf("Keys()[%q] = %q, want %q", name, got[name], typ)
		}
	}
}

func TestCheckNamesFileAndLine(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		line      int
		msg       string
	}{
		{"a syntax error", "backend = \"file\"\n\nendpoint = = 3\n", 3, ""},
		{"a bad duration", "[lease]\ndefault_ttl = \"1h\"\ngit_ttl = \"soon\"\n", 3, "not a duration"},
		{"an unknown key", "endpoint = \"https://huggingface.co\"\n[git]\nperfer = \"read\"\n", 3, `unknown key "git.perfer"`},
		{"a bad value", "# comment\n\nbackend = \"cloud\"\n", 3, "backend must be"},
		{"a bad enum in a table", "[git]\n\nprefer = \"sometimes\"\n", 3, "git.prefer must be"},
		{"a route without profile", "[[route]]\nmatch = \"a/*\"\nprofile = \"x\"\n\n[[route]]\nmatch = \"b/*\"\n", 5, "route 2 needs"},
		{"an http endpoint", "\nendpoint = \"http://hub.example\"\n", 2, "clear text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeConfig(t, tc.src)
			err := Check(p)
			prob, ok := errors.AsType[*Problem](err)
			if !ok {
				t.Fatalf("Check = %v, want a *Problem", err)
			}
			if prob.File != p || prob.Line != tc.line || !strings.Contains(prob.Msg, tc.msg) {
				t.Errorf("Check = %q (line %d); want line %d and %q", err, prob.Line, tc.line, tc.msg)
			}
			if !strings.HasPrefix(err.Error(), p+":") {
				t.Errorf("error %q does not start with the file name", err)
			}
		})
	}
	if err := Check(writeConfig(t, "backend = \"file\"\n[lease]\nmax_ttl = \"2h\"\n")); err != nil {
		t.Errorf("Check(valid) = %v", err)
	}
	if err := Check(filepath.Join(t.TempDir(), "none.toml")); err == nil {
		t.Error("Check(missing file) = nil")
	}
}

func TestDescribeSaysWhereEachValueCameFrom(t *testing.T) {
	p := writeConfig(t, "backend = \"file\"\n[lease]\ndefault_ttl = \"30m\"\n[[route]]\nmatch = \"acme/*\"\nprofile = \"ci\"\n")
	env := map[string]string{"HF_ENDPOINT": "https://hub.example/"}
	got, err := Describe(func(k string) string { return env[k] }, p)
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]Setting{}
	for _, s := range got {
		byKey[s.Key] = s
	}
	for key, want := range map[string]Setting{
		"endpoint":          {Value: "https://hub.example", Source: SourceEnv, EnvVar: "HF_ENDPOINT"},
		"backend":           {Value: "file", Source: SourceFile},
		"lease.default_ttl": {Value: "30m0s", Source: SourceFile},
		"lease.max_ttl":     {Value: "12h0m0s", Source: SourceDefault},
		"git.prefer":        {Value: "write", Source: SourceDefault},
		"route[1].match":    {Value: "acme/*", Source: SourceFile},
		"route[1].profile":  {Value: "ci", Source: SourceFile},
	} {
		s := byKey[key]
		if s.Value != want.Value || s.Source != want.Source || s.EnvVar != want.EnvVar {
			t.Errorf("%s = %+v, want %+v", key, s, want)
		}
	}
	// Every documented key shows up, so nothing the daemon uses is hidden.
	for _, k := range Keys() {
		if k.Type == "list of tables" || strings.HasPrefix(k.Name, "route.") {
			continue
		}
		if _, ok := byKey[k.Name]; !ok {
			t.Errorf("Describe lacks %s", k.Name)
		}
	}
}

// config show must say what applies for every key a user may leave out:
// lease.max_until_exit once showed an empty default.
func TestEveryScalarKeyHasADefault(t *testing.T) {
	for _, k := range Keys() {
		if k.Name == "route" || strings.HasPrefix(k.Name, "route.") {
			continue
		}
		if defaultValue(k.Name) == "" {
			t.Errorf("config key %q has no default for 'config show'", k.Name)
		}
	}
}
