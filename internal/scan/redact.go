package scan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hfbroker/hfbroker/internal/secret"
)

// DefaultPlaceholder replaces a token when Redact is given none. It is a
// bare word so a redacted .env, shell script or YAML file still parses
// (something like "<redacted>" would be a redirection when a shell sources
// .env), it is obviously not a token, and Find does not match it.
const DefaultPlaceholder = "hf_REDACTED"

// envLookup replaces a Python string literal that is exactly a token, in a
// code cell of a Python notebook.
const envLookup = `os.environ["HF_TOKEN"]`

// Errors returned by Redact.
var (
	// ErrStale means a token listed in the findings is no longer in the file:
	// it changed after the scan. Nothing is written; scan again.
	ErrStale = errors.New("the file changed since it was scanned")
	// ErrBadPlaceholder means the placeholder would itself look like a token.
	ErrBadPlaceholder = errors.New("the placeholder looks like a token")
)

// Redact rewrites path in place, replacing every occurrence of each token in
// findings with placeholder ("" means DefaultPlaceholder). The file is
// scanned afresh, so offsets in findings do not need to be current, but every
// listed token must still be there or Redact returns ErrStale and writes
// nothing. The rewrite is atomic and keeps the file's mode.
//
// Notebooks that parse as JSON are edited byte for byte inside string values,
// so the result is valid JSON with its formatting intact. In a code cell of a
// Python notebook (or one that names no kernel language), a string literal
// that is exactly the token, "hf_…" or 'hf_…', becomes
// os.environ["HF_TOKEN"], and "import os" is added as the cell's first line
// unless the cell already has it; the cell keeps working once HF_TOKEN is set,
// for example by hfbroker exec. Cells that start with a cell magic (%%) or
// hold a __future__ import, where a new first line would break them, get the
// placeholder instead.
func Redact(path string, findings []Finding, placeholder string) error {
	if placeholder == "" {
		placeholder = DefaultPlaceholder
	}
	if len(Find([]byte(placeholder))) > 0 {
		return ErrBadPlaceholder
	}
	want := map[secret.Token]bool{}
	for _, f := range findings {
		if filepath.Clean(f.Path) != filepath.Clean(path) {
			return fmt.Errorf("redact %s: a finding belongs to another file, %s", path, f.Path)
		}
		want[f.Token] = true
	}
	if len(want) == 0 {
		return nil
	}
	perm, err := regularFile(path)
	if err != nil {
		return fmt.Errorf("redact %s: %w", path, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("redact %s: %w", path, err)
	}
	out, err := redactBytes(path, data, want, placeholder)
	if err != nil {
		return fmt.Errorf("redact %s: %w", path, err)
	}
	return writeFileAtomic(path, out, perm)
}

// redactBytes returns data with the wanted tokens replaced. path only decides
// whether data is a notebook.
func redactBytes(path string, data []byte, want map[secret.Token]bool, placeholder string) ([]byte, error) {
	return redactData(data, want, placeholder, isNotebook(path))
}

// RedactBytes is Redact for data that is not a file, such as a notebook
// passing through a Jupyter save hook on stdin: it returns data with every
// token in findings replaced. asNotebook parses data as a notebook (falling
// back to text when it is not JSON); a notebook's login() and
// notebook_login() lines are rewritten even when findings is empty.
func RedactBytes(data []byte, findings []Finding, placeholder string, asNotebook bool) ([]byte, error) {
	if placeholder == "" {
		placeholder = DefaultPlaceholder
	}
	if len(Find([]byte(placeholder))) > 0 {
		return nil, ErrBadPlaceholder
	}
	want := map[secret.Token]bool{}
	for _, f := range findings {
		want[f.Token] = true
	}
	return redactData(data, want, placeholder, asNotebook)
}

func redactData(data []byte, want map[secret.Token]bool, placeholder string, asNotebook bool) ([]byte, error) {
	var edits []edit
	found := map[secret.Token]bool{}
	nb, isNB := (*notebook)(nil), false
	if asNotebook {
		nb, isNB = parseNotebook(data)
	}
	if isNB {
		edits = notebookEdits(data, nb, want, found, placeholder)
	} else {
		for _, m := range Find(data) {
			if want[m.Token] {
				found[m.Token] = true
				edits = append(edits, edit{m.Offset, m.End, []byte(placeholder)})
			}
		}
	}
	for t := range want {
		if !found[t] {
			return nil, ErrStale
		}
	}
	return applyEdits(data, edits), nil
}

// edit replaces data[start:end] with repl; start == end inserts.
type edit struct {
	start, end int
	repl       []byte
}

func applyEdits(data []byte, edits []edit) []byte {
	// Insertions sort before a replacement starting at the same offset, so
	// "import os" lands in front of a token that opens a source string.
	slices.SortStableFunc(edits, func(a, b edit) int {
		if a.start != b.start {
			return a.start - b.start
		}
		return (a.end - a.start) - (b.end - b.start)
	})
	var out bytes.Buffer
	out.Grow(len(data))
	pos := 0
	for _, e := range edits {
		if e.start < pos {
			continue // overlaps an earlier edit; cannot happen with Find's disjoint matches
		}
		out.Write(data[pos:e.start])
		out.Write(e.repl)
		pos = e.end
	}
	out.Write(data[pos:])
	return out.Bytes()
}

// notebookEdits plans the edits for a parsed notebook. Every replacement
// covers whole escape units inside one JSON string and is itself
// JSON-escaped, and the only insertion is a new first element of a source
// array, so valid JSON stays valid.
func notebookEdits(data []byte, nb *notebook, want, found map[secret.Token]bool, placeholder string) []edit {
	var edits []edit
	jsonPlaceholder := jsonEscape(placeholder)
	needsImport := map[int]bool{}
	logins := nb.loginLines()
	for _, l := range logins {
		s := nb.strs[l.str]
		edits = append(edits, edit{s.rawStart[l.start], s.rawEnd[l.end-1], jsonEscape(l.indent + loginComment)})
	}
	for _, m := range nb.matches(data) {
		if !want[m.Token] {
			continue
		}
		found[m.Token] = true
		if slices.ContainsFunc(logins, func(l loginLine) bool { return l.str == m.str && l.start <= m.dOff && m.dEnd <= l.end }) {
			continue // the whole line goes
		}
		if m.loc.Where == WhereSource && nb.rewritesLiterals(m.loc.Cell) {
			s := nb.strs[m.str]
			if exactLiteral(s.text, m.dOff, m.dEnd) {
				edits = append(edits, edit{s.rawStart[m.dOff-1], s.rawEnd[m.dEnd], jsonEscape(envLookup)})
				needsImport[m.loc.Cell] = true
				continue
			}
		}
		edits = append(edits, edit{m.Offset, m.End, jsonPlaceholder})
	}
	for cell := range needsImport {
		c := nb.cells[cell]
		if importOSLine().MatchString(c.source.String()) {
			continue
		}
		if c.sourceArray {
			// Copy the whitespace between '[' and the first line so the new
			// line is indented like its neighbours.
			ws := data[c.sourceStart+1 : c.firstElem]
			line := append(jsonEscapeQuoted("import os\n"), ',')
			edits = append(edits, edit{c.firstElem, c.firstElem, append(line, ws...)})
		} else {
			edits = append(edits, edit{c.sourceStart + 1, c.sourceStart + 1, jsonEscape("import os\n")})
		}
	}
	return edits
}

// loginComment replaces a login() or notebook_login() line in a code cell.
// huggingface_hub's login writes the token to its plaintext token file, so
// os.environ["HF_TOKEN"] there would undo the redaction the first time the
// cell runs; a kernel started through hfbroker already has its token. "pass"
// keeps an indented block that held only the call valid Python.
const loginComment = `pass  # hfbroker: this kernel already has a lease in HF_TOKEN (hfbroker jupyter install); login() would write the token to disk`

// loginLine is one line of a code cell's source that calls login() or
// notebook_login(): decoded bytes [start, end) of nb.strs[str].
type loginLine struct {
	str, start, end int
	indent          string
}

// loginLines finds the single-line calls of huggingface_hub's login,
// notebook_login and interpreter_login in the Python code cells that
// rewritesLiterals allows editing. A login() with no argument prompts and
// holds no token, and is left alone.
func (nb *notebook) loginLines() []loginLine {
	var out []loginLine
	for si := range nb.strs {
		s := &nb.strs[si]
		if s.where != WhereSource || s.cell < 0 || !nb.rewritesLiterals(s.cell) || len(s.rawStart) != len(s.text) {
			continue
		}
		start := 0
		for start < len(s.text) {
			end := bytes.IndexByte(s.text[start:], '\n')
			if end < 0 {
				end = len(s.text)
			} else {
				end += start
			}
			line := s.text[start:end]
			if m := loginCall().FindSubmatch(line); m != nil && (string(m[2]) != "login" || len(bytes.TrimSpace(m[3])) > 0) {
				out = append(out, loginLine{str: si, start: start, end: end, indent: string(m[1])})
			}
			start = end + 1
		}
	}
	return out
}

// rewritesLiterals reports whether token literals in a cell's source may
// become os.environ lookups.
func (nb *notebook) rewritesLiterals(cell int) bool {
	c := nb.cells[cell]
	if c == nil || c.cellType != "code" || !c.hasSource {
		return false
	}
	if c.sourceArray && c.firstElem < 0 {
		return false
	}
	if nb.language != "" && nb.language != "python" {
		return false
	}
	src := c.source.String()
	return !strings.HasPrefix(strings.TrimLeft(src, " \t\r\n"), "%%") && !futureImport().MatchString(src)
}

// exactLiteral reports whether text[off:end] is the whole content of a
// single- or double-quoted Python string literal without a prefix: the same
// quote on both sides, not tripled, and no identifier character (b, r, f…)
// glued to the opening quote.
func exactLiteral(text []byte, off, end int) bool {
	if off < 1 || end >= len(text) {
		return false
	}
	q := text[off-1]
	if (q != '"' && q != '\'') || text[end] != q {
		return false
	}
	if off >= 2 && (text[off-2] == q || isWord(text[off-2])) {
		return false
	}
	return end+1 >= len(text) || text[end+1] != q
}

// jsonEscape returns s as it must appear between the quotes of a JSON
// string.
func jsonEscape(s string) []byte {
	q := jsonEscapeQuoted(s)
	return q[1 : len(q)-1]
}

func jsonEscapeQuoted(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
