package scan

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// notebookJSON renders a notebook the way Jupyter saves it (one-space
// indent, sorted keys). tokens[0] is a Python literal in a code cell,
// tokens[1] is in that cell's stream output after an escaped newline,
// tokens[2] in an execute_result, tokens[3] in a markdown cell and
// tokens[4] in widget state in the notebook metadata.
func notebookJSON(language string, tokens [5]string) string {
	r := strings.NewReplacer("TOK0", tokens[0], "TOK1", tokens[1], "TOK2", tokens[2], "TOK3", tokens[3], "TOK4", tokens[4], "LANG", language)
	return r.Replace(`{
 "cells": [
  {
   "cell_type": "markdown",
   "metadata": {},
   "source": [
    "# Setup\n",
    "Paste your token (TOK3) below.\n"
   ]
  },
  {
   "cell_type": "code",
   "execution_count": 1,
   "id": "a1b2c3",
   "metadata": {
    "tags": ["caf\u00e9"]
   },
   "outputs": [
    {
     "name": "stdout",
     "output_type": "stream",
     "text": [
      "logged in\nTOK1\n"
     ]
    },
    {
     "data": {
      "text/plain": [
       "'TOK2'"
      ]
     },
     "execution_count": 1,
     "metadata": {},
     "output_type": "execute_result"
    }
   ],
   "source": [
    "from huggingface_hub import login\n",
    "token = \"TOK0\"\n",
    "login(token=token)"
   ]
  }
 ],
 "metadata": {
  "kernelspec": {
   "display_name": "Python 3",
   "language": "LANG",
   "name": "python3"
  },
  "widgets": {
   "state": {"w1": {"value": "TOK4"}}
  }
 },
 "nbformat": 4,
 "nbformat_minor": 5
}
`)
}

func fiveTokens(seed uint64) [5]string {
	m := newTokenMaker(seed)
	return [5]string{m.hf(), m.hf(), m.hf(), m.hf(), m.hf()}
}

func TestScanPlacesNotebookTokensInTheirCells(t *testing.T) {
	toks := fiveTokens(10)
	dir := t.TempDir()
	path := filepath.Join(dir, "demo.ipynb")
	writeFile(t, path, notebookJSON("python", toks), 0o644)
	got, err := Scan(t.Context(), []string{dir}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		token      string
		line, cell int
		where      string
	}{
		{toks[3], 8, 0, WhereSource},
		{toks[1], 23, 1, WhereOutput},
		{toks[2], 29, 1, WhereOutput},
		{toks[0], 39, 1, WhereSource},
		{toks[4], 51, -1, WhereMetadata},
	}
	if len(got) != len(want) {
		t.Fatalf("found %d tokens, want %d: %v", len(got), len(want), got)
	}
	lines := strings.Split(notebookJSON("python", toks), "\n")
	for i, w := range want {
		g := got[i]
		if g.Token.Reveal() != w.token || g.Line != w.line || g.Notebook == nil || g.Notebook.Cell != w.cell || g.Notebook.Where != w.where {
			t.Errorf("finding %d = %v, want line %d cell %d %s", i, g, w.line, w.cell, w.where)
			continue
		}
		if line := lines[g.Line-1]; !strings.HasPrefix(line[g.Col-1:], w.token) {
			t.Errorf("finding %d: column %d does not point at the token in %q", i, g.Col, line)
		}
	}
}

func TestScanFallsBackToTextForBrokenNotebooks(t *testing.T) {
	tok := newTokenMaker(11).hf()
	path := filepath.Join(t.TempDir(), "broken.ipynb")
	writeFile(t, path, `{"cells": [ {"source": ["x = '`+tok+`'"]`, 0o644)
	got, err := Scan(t.Context(), []string{path}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Token.Reveal() != tok || got[0].Notebook != nil {
		t.Fatalf("got %v, want one plain finding", got)
	}
	if err := Redact(path, got, ""); err != nil {
		t.Fatal(err)
	}
	if s := readFile(t, path); s != `{"cells": [ {"source": ["x = '`+DefaultPlaceholder+`'"]` {
		t.Errorf("redacted broken notebook = %q", s)
	}
}

func TestRedactNotebookKeepsJSONAndRewritesLiterals(t *testing.T) {
	toks := fiveTokens(12)
	orig := notebookJSON("python", toks)
	path := filepath.Join(t.TempDir(), "demo.ipynb")
	writeFile(t, path, orig, 0o600)
	found, err := Scan(t.Context(), []string{path}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := Redact(path, found, ""); err != nil {
		t.Fatal(err)
	}
	got := readFile(t, path)

	// The exact expected bytes: only the token spans change, plus the new
	// first source line, indented like its neighbours.
	want := strings.NewReplacer(
		`"token = \"`+toks[0]+`\"\n",`, `"token = os.environ[\"HF_TOKEN\"]\n",`,
		"\"source\": [\n    \"from huggingface_hub", "\"source\": [\n    \"import os\\n\",\n    \"from huggingface_hub",
		toks[1], DefaultPlaceholder, toks[2], DefaultPlaceholder,
		toks[3], DefaultPlaceholder, toks[4], DefaultPlaceholder,
	).Replace(orig)
	if got != want {
		t.Errorf("redacted notebook differs from the expected bytes:\n%s", got)
	}

	var before, after map[string]any
	if err := json.Unmarshal([]byte(orig), &before); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(got), &after); err != nil {
		t.Fatalf("redacted notebook is not JSON: %v", err)
	}
	if nb, na := len(before["cells"].([]any)), len(after["cells"].([]any)); nb != na {
		t.Errorf("cell count changed from %d to %d", nb, na)
	}
	if again, _ := Scan(t.Context(), []string{path}, Options{}); len(again) != 0 {
		t.Errorf("tokens left after redaction: %v", again)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Errorf("mode changed to %v", info.Mode().Perm())
	}
}

// TestRedactedCellStillRuns executes the rewritten cell: with HF_TOKEN set,
// it must see the same value the literal held.
func TestRedactedCellStillRuns(t *testing.T) {
	python := requireTool(t, "python3")
	toks := fiveTokens(13)
	path := filepath.Join(t.TempDir(), "demo.ipynb")
	src := strings.ReplaceAll(notebookJSON("python", toks), `"login(token=token)"`, `"print(token)"`)
	src = strings.ReplaceAll(src, `"from huggingface_hub import login\n",`, `"import sys\n",`)
	writeFile(t, path, src, 0o600)
	found, _ := Scan(t.Context(), []string{path}, Options{})
	if err := Redact(path, found, ""); err != nil {
		t.Fatal(err)
	}
	var nb struct {
		Cells []struct {
			CellType string   `json:"cell_type"`
			Source   []string `json:"source"`
		} `json:"cells"`
	}
	if err := json.Unmarshal([]byte(readFile(t, path)), &nb); err != nil {
		t.Fatal(err)
	}
	code := strings.Join(nb.Cells[1].Source, "")
	cmd := exec.Command(python, "-c", code)
	cmd.Env = append(os.Environ(), "HF_TOKEN=from-the-environment")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "from-the-environment" {
		t.Fatalf("redacted cell %q: %v: %s", code, err, out)
	}
}

func TestRedactNotebookUsesPlaceholderWhereARewriteWouldBreak(t *testing.T) {
	m := newTokenMaker(14)
	cases := []struct {
		name     string
		language string
		source   string // JSON source value of the code cell, TOK the token
		want     string
	}{
		{"an R notebook keeps R syntax", "R", `["x <- \"TOK\""]`, `["x <- \"hf_REDACTED\""]`},
		{"a cell magic must stay the first line", "python", `["%%time\n", "t = \"TOK\""]`, `["%%time\n", "t = \"hf_REDACTED\""]`},
		{"a __future__ import must stay first", "python", `["from __future__ import annotations\n", "t = 'TOK'"]`, `["from __future__ import annotations\n", "t = 'hf_REDACTED'"]`},
		{"a bytes literal is not a str", "python", `["t = b'TOK'"]`, `["t = b'hf_REDACTED'"]`},
		{"a token inside a longer literal", "python", `["t = 'Bearer TOK'"]`, `["t = 'Bearer hf_REDACTED'"]`},
		{"a cell that imports os gets no second import", "python", `["import os, sys\n", "t = 'TOK'"]`, `["import os, sys\n", "t = os.environ[\"HF_TOKEN\"]"]`},
		{"a single-string source gets the import inline", "python", `"t = 'TOK'"`, `"import os\nt = os.environ[\"HF_TOKEN\"]"`},
		{"a compact list gets a compact import", "python", `["t = \"TOK\""]`, `["import os\n","t = os.environ[\"HF_TOKEN\"]"]`},
		{"an escaped token is still replaced whole", "python", `["t = '\u0068f_BODY'"]`, `["import os\n","t = os.environ[\"HF_TOKEN\"]"]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := m.body(34)
			tok := "hf_" + body
			doc := `{"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "source": ` + tc.source +
				`}], "metadata": {"kernelspec": {"language": "` + tc.language + `"}}, "nbformat": 4, "nbformat_minor": 5}`
			doc = strings.NewReplacer("TOK", tok, "BODY", body).Replace(doc)
			path := filepath.Join(t.TempDir(), "n.ipynb")
			writeFile(t, path, doc, 0o644)
			found, err := Scan(t.Context(), []string{path}, Options{})
			if err != nil || len(found) != 1 {
				t.Fatalf("scan: %v %v", found, err)
			}
			if err := Redact(path, found, ""); err != nil {
				t.Fatal(err)
			}
			got := readFile(t, path)
			if !strings.Contains(got, `"source": `+tc.want+`}`) {
				t.Errorf("redacted to %s\nwant source %s", got, tc.want)
			}
			if !json.Valid([]byte(got)) {
				t.Errorf("not valid JSON: %s", got)
			}
		})
	}
}

func FuzzNotebook(f *testing.F) {
	toks := fiveTokens(15)
	f.Add([]byte(notebookJSON("python", toks)))
	f.Add([]byte(notebookJSON("R", toks)))
	f.Add([]byte(`{"cells":[{"cell_type":"code","source":"x = '` + toks[0] + `'"}]}`))
	f.Add([]byte(`{"cells":[{"cell_type":"code","source":["\"` + toks[0] + `\"","\ud83d\ude00\u0068f_` + toks[1][3:] + `"]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		nb, ok := parseNotebook(data)
		if ok != json.Valid(data) {
			t.Fatalf("parseNotebook ok=%v but json.Valid=%v", ok, json.Valid(data))
		}
		found := findInFile("f.ipynb", data)
		want := map[string]bool{}
		for _, fd := range found {
			want[fd.Token.Reveal()] = true
		}
		if !ok {
			return
		}
		for _, m := range nb.matches(data) {
			if m.Offset < 0 || m.End > len(data) || m.Offset >= m.End {
				t.Fatalf("bad span %d..%d", m.Offset, m.End)
			}
		}
		if len(want) == 0 {
			return
		}
		wantTok := map[string]bool{}
		for k := range want {
			wantTok[k] = true
		}
		out, err := redactBytes("f.ipynb", data, toTokenSet(want), DefaultPlaceholder)
		if err != nil {
			t.Fatalf("redact: %v", err)
		}
		if !json.Valid(out) {
			t.Fatalf("redaction broke valid JSON:\n%q\n->\n%q", data, out)
		}
		for _, fd := range findInFile("f.ipynb", out) {
			if want[fd.Token.Reveal()] {
				t.Fatalf("a redacted token survived at %d:%d", fd.Line, fd.Col)
			}
		}
		if bytes.Equal(out, data) {
			t.Fatal("redaction changed nothing")
		}
	})
}

// Issue 18: `login(token="hf_…")` redacted to login(token=os.environ[…])
// wrote the real token to huggingface_hub's plaintext token file the first
// time the cell ran under exec: the fix undid itself. login() and
// notebook_login() lines become a comment; a bare literal still becomes
// os.environ["HF_TOKEN"], and the cell stays valid Python.
func TestRedactTurnsLoginCallsIntoAComment(t *testing.T) {
	python := requireTool(t, "python3")
	m := newTokenMaker(18)
	tok, tok2 := m.hf(), m.hf()
	src := strings.NewReplacer("TOK2", tok2, "TOK", tok).Replace(`{
 "cells": [
  {
   "cell_type": "code",
   "execution_count": null,
   "metadata": {},
   "outputs": [],
   "source": [
    "import huggingface_hub\n",
    "from huggingface_hub import login, notebook_login\n",
    "login(token=\"TOK\")\n",
    "if True:\n",
    "    huggingface_hub.login(\"TOK\", add_to_git_credential=True)\n",
    "notebook_login()\n",
    "x = \"TOK2\""
   ]
  }
 ],
 "metadata": {"kernelspec": {"language": "python", "name": "python3"}},
 "nbformat": 4,
 "nbformat_minor": 5
}
`)
	path := filepath.Join(t.TempDir(), "login.ipynb")
	writeFile(t, path, src, 0o600)
	found, err := Scan(t.Context(), []string{path}, Options{})
	if err != nil || len(found) != 3 {
		t.Fatalf("found %d tokens (%v), want 3", len(found), err)
	}
	if err := Redact(path, found, ""); err != nil {
		t.Fatal(err)
	}
	var nb struct {
		Cells []struct {
			Source []string `json:"source"`
		} `json:"cells"`
	}
	if err := json.Unmarshal([]byte(readFile(t, path)), &nb); err != nil {
		t.Fatalf("redacted notebook is not JSON: %v", err)
	}
	code := strings.Join(nb.Cells[0].Source, "")
	assertNoToken(t, "redacted cell", code, tok, tok2)
	for _, want := range []string{
		"pass  # hfbroker: this kernel already has a lease",
		"\n    pass  # hfbroker:",
		`x = os.environ["HF_TOKEN"]`,
		"import os\n",
	} {
		if !strings.Contains(code, want) {
			t.Errorf("redacted cell lacks %q:\n%s", want, code)
		}
	}
	for _, line := range strings.Split(code, "\n") {
		if call, _, _ := strings.Cut(line, "#"); strings.Contains(call, "login(") {
			t.Errorf("a login call is left: %q", line)
		}
	}
	// Still valid Python.
	if out, err := exec.Command(python, "-c", "import sys; compile(sys.argv[1], 'cell', 'exec')", code).CombinedOutput(); err != nil {
		t.Errorf("redacted cell does not compile: %v: %s\n%s", err, out, code)
	}
}

// The save hook's filter: RedactBytes rewrites a notebook that never was a
// file, and takes out notebook_login() even when it holds no token.
func TestRedactBytesFiltersANotebook(t *testing.T) {
	m := newTokenMaker(19)
	tok := m.hf()
	src := `{"cells": [{"cell_type": "code", "metadata": {}, "outputs": [{"output_type": "stream", "name": "stdout", "text": ["` + tok + `\n"]}], "source": ["notebook_login()\n", "print(1)"]}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}`
	found := ScanBytes("-", []byte(src), true)
	if len(found) != 1 || found[0].Notebook == nil || found[0].Notebook.Where != WhereOutput {
		t.Fatalf("found %+v, want one token in an output", found)
	}
	out, err := RedactBytes([]byte(src), found, "", true)
	if err != nil {
		t.Fatal(err)
	}
	assertNoToken(t, "filtered notebook", string(out), tok)
	if !json.Valid(out) || strings.Contains(string(out), "notebook_login()") || !strings.Contains(string(out), DefaultPlaceholder) {
		t.Errorf("filtered notebook:\n%s", out)
	}
	// No token, no login: unchanged, byte for byte.
	plain := `{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}`
	if out, err := RedactBytes([]byte(plain), nil, "", true); err != nil || string(out) != plain {
		t.Errorf("a clean notebook changed: %v\n%s", err, out)
	}
}
