package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Issue 19: `migrate` wrote a second backend key beside a quoted one, and the
// next daemon start failed on the duplicate. Whatever the spelling of the
// top-level key, the edited file parses to the new backend and keeps the
// user's comments and layout; a backend key inside a table is not touched.
func TestMigrateNeverLeavesAConfigThatCannotLoad(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // the edited file
	}{
		{"bare key", "# mine\nbackend = \"keychain\"\n", "# mine\nbackend = \"file\"\n"},
		{"quoted key", "# mine\n\"backend\" = \"keychain\"\n", "# mine\n\"backend\" = \"file\"\n"},
		{"literal key", "'backend' = 'keychain'\n", "'backend' = \"file\"\n"},
		{"spaces and a comment", "  backend   =   \"auto\"   # picked by hand\n", "  backend = \"file\" # picked by hand\n"},
		{"quoted key with spaces", "\"backend\"=\"auto\"\nendpoint = \"https://huggingface.co\"\n", "\"backend\" = \"file\"\nendpoint = \"https://huggingface.co\"\n"},
		{"a # inside the value", "backend = \"a#b\" # note\n", "backend = \"file\" # note\n"},
		{"no backend yet", "# mine\n[lease]\ndefault_ttl = \"1h\"\n", "backend = \"file\"\n# mine\n[lease]\ndefault_ttl = \"1h\"\n"},
		{"no file", "", "backend = \"file\"\n"},
		{"a backend key after a table header is not top-level",
			"[git]\nprefer = \"read\"\n\n[[route]]\nmatch = \"acme/*\"\nprofile = \"x\"\n",
			"backend = \"file\"\n[git]\nprefer = \"read\"\n\n[[route]]\nmatch = \"acme/*\"\nprofile = \"x\"\n"},
		{"CRLF line endings", "\"backend\" = \"auto\"\r\n[git]\r\nprefer = \"read\"\r\n", "\"backend\" = \"file\"\r\n[git]\r\nprefer = \"read\"\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeConfig(t, tc.in)
			if tc.in == "" {
				os.Remove(p)
			}
			if err := SetBackend(p, "file"); err != nil {
				t.Fatalf("SetBackend: %v", err)
			}
			b, _ := os.ReadFile(p)
			if string(b) != tc.want {
				t.Errorf("config.toml =\n%q\nwant\n%q", b, tc.want)
			}
			c, err := Load(p)
			if err != nil {
				t.Fatalf("the edited config does not load: %v", err)
			}
			if c.Backend != "file" {
				t.Fatalf("backend = %q, want file", c.Backend)
			}
		})
	}
}

// An edit that would change more than the backend, or a file that does not
// parse, is refused and the file is left as it was.
func TestSetBackendRefusesAnUnsafeEdit(t *testing.T) {
	for name, in := range map[string]string{
		"does not parse":                   "backend = \n",
		"a backend table at the top":       "[backend]\nx = 1\n",
		"a key spelled with escapes":       "\"back\\u0065nd\" = \"auto\"\n",
		"a line inside a multiline string": "endpoint = \"\"\"\nbackend = \"x\"\n\"\"\"\n",
	} {
		t.Run(name, func(t *testing.T) {
			p := writeConfig(t, in)
			if err := SetBackend(p, "file"); err == nil {
				b, _ := os.ReadFile(p)
				if _, lerr := decodeLoose(string(b)); lerr != nil {
					t.Fatalf("SetBackend wrote a file that does not parse:\n%s", b)
				}
				return // a correct edit is fine too
			}
			if b, _ := os.ReadFile(p); string(b) != in {
				t.Fatalf("a refused edit changed the file to\n%s", b)
			}
		})
	}
}

// Issue 19: path.Match's * stops at "/", so a route matching "*" silently
// matched nothing. A pattern that can never match a repo id is an error at
// load, with a hint to write "*/*".
func TestRouteThatCanNeverMatchIsAnErrorAtLoad(t *testing.T) {
	tests := []struct {
		match string
		ok    bool
		hint  string
	}{
		{"*", false, `"*/*"`},
		{"llm", false, `"*/*"`},
		{"a/b/c/d", false, "namespace/name"},
		{"models/acme/*", false, "models have no prefix"},
		{"acme/[", false, "pattern"},
		{"*/*", true, ""},
		{"acme/*", true, ""},
		{"acme/llm", true, ""},
		{"datasets/acme/*", true, ""},
		{"spaces/*/*", true, ""},
		{"*/*/*", true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.match, func(t *testing.T) {
			p := writeConfig(t, "[[route]]\nmatch = \""+tc.match+"\"\nprofile = \"reader\"\n")
			_, err := Load(p)
			if tc.ok {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Load = %v, want a config error with a hint", err)
			}
			if !strings.Contains(ce.Error(), "route 1") || !strings.Contains(ce.Error(), tc.match) || !strings.Contains(ce.Hint(), tc.hint) {
				t.Fatalf("error %q, hint %q; want route 1, %q, and a hint with %s", ce.Error(), ce.Hint(), tc.match, tc.hint)
			}
		})
	}
}

// Issue 18: [[route]] dir = "~/work/acme" gives kernels started there the
// acme profile; the dir is made absolute at load, and a route names either
// repos or a directory.
func TestRouteDir(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	load := func(body string) (*Config, error) {
		p := filepath.Join(t.TempDir(), "config.toml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return Load(p)
	}
	c, err := load("[[route]]\ndir = \"~/work/acme/\"\nprofile = \"acme\"\n[[route]]\nmatch = \"acme/*\"\nprofile = \"acme\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Routes[0].Dir, filepath.Join(home, "work", "acme"); got != want {
		t.Errorf("dir = %q, want %q", got, want)
	}
	for body, want := range map[string]string{
		"[[route]]\ndir = \"work/acme\"\nprofile = \"acme\"\n":              "must be absolute",
		"[[route]]\ndir = \"/w\"\nmatch = \"acme/*\"\nprofile = \"acme\"\n": "either match or dir",
		"[[route]]\nprofile = \"acme\"\n":                                   "either match or dir",
		"[[route]]\ndir = \"/w\"\n":                                         "needs a profile",
	} {
		if _, err := load(body); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", body, err, want)
		}
	}
}
