package scan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// Where a token sits in a notebook.
const (
	WhereSource   = "source"   // cells[i].source: code or markdown the user wrote
	WhereOutput   = "output"   // cells[i].outputs: text, data, tracebacks, output metadata
	WhereMetadata = "metadata" // anything else: cell or notebook metadata, widget state, attachments
)

// NotebookLocation places a finding inside a Jupyter notebook.
type NotebookLocation struct {
	// Cell is the 0-based index into the notebook's cells array, or -1 when
	// the token is outside every cell (notebook metadata, widget state).
	Cell  int
	Where string
}

func (l NotebookLocation) String() string {
	if l.Cell < 0 {
		return "notebook " + l.Where
	}
	return fmt.Sprintf("cell %d %s", l.Cell, l.Where)
}

var errJSONSyntax = errors.New("notebook json syntax")

// pathElem is one step from the document root: an object key or an array
// index.
type pathElem struct {
	key   string
	index int
	isIdx bool
}

// nbString is a JSON string (key or value) that could hold a token, with its
// decoded text and, for every decoded byte, the raw span of the escape unit
// that produced it, so a token found in decoded text maps back to file bytes.
type nbString struct {
	text     []byte
	rawStart []int // rawStart[i]: file offset where text[i]'s unit begins
	rawEnd   []int // rawEnd[i]: file offset just after text[i]'s unit
	cell     int
	where    string
}

// nbCell is what redaction needs to know about a cell.
type nbCell struct {
	cellType    string
	source      strings.Builder // decoded source, all pieces joined
	hasSource   bool
	sourceArray bool // source is a list of lines, not one string
	sourceStart int  // offset of the '[' or '"' opening the source value
	firstElem   int  // for a list: offset of its first element, -1 if empty
}

// notebook is a parsed .ipynb: every string that could hold a token, and the
// per-cell facts redaction uses.
type notebook struct {
	strs     []nbString
	cells    map[int]*nbCell
	language string // kernel language from metadata, "" when absent
}

// parseNotebook walks a notebook's JSON. It reports false when data is not
// valid JSON, and the caller falls back to a plain text scan.
func parseNotebook(data []byte) (*notebook, bool) {
	if !json.Valid(data) {
		return nil, false
	}
	w := &jsonWalker{data: data, nb: &notebook{cells: map[int]*nbCell{}}}
	if err := w.value(nil); err != nil {
		// json.Valid accepted it, so this is a walker bug; scanning the
		// bytes as text still finds the tokens.
		return nil, false
	}
	return w.nb, true
}

// matches returns the tokens in the notebook with file offsets and the
// notebook location of each.
func (nb *notebook) matches(data []byte) []nbMatch {
	var out []nbMatch
	var lines *lineIndex
	for si := range nb.strs {
		s := &nb.strs[si]
		for _, m := range Find(s.text) {
			if lines == nil {
				lines = newLineIndex(data)
			}
			start, end := s.rawStart[m.Offset], s.rawEnd[m.End-1]
			line, col := lines.position(start)
			out = append(out, nbMatch{
				Match: Match{Offset: start, End: end, Line: line, Col: col, Kind: m.Kind, Token: m.Token},
				loc:   NotebookLocation{Cell: s.cell, Where: s.where},
				str:   si,
				dOff:  m.Offset,
				dEnd:  m.End,
			})
		}
	}
	return out
}

// nbMatch is a Match inside a notebook string: the file span plus where it
// sits in the decoded text of nb.strs[str].
type nbMatch struct {
	Match
	loc        NotebookLocation
	str        int
	dOff, dEnd int
}

// jsonWalker is a recursive-descent walk over JSON that json.Valid has
// already accepted. It keeps byte offsets, which encoding/json does not give
// for string contents.
type jsonWalker struct {
	data []byte
	pos  int
	nb   *notebook
}

func (w *jsonWalker) skipSpace() {
	for w.pos < len(w.data) {
		switch w.data[w.pos] {
		case ' ', '\t', '\n', '\r':
			w.pos++
		default:
			return
		}
	}
}

// value walks one JSON value. path is appended to without copying: a child
// may overwrite slots past len(path) in the shared array, but never one the
// caller still reads, and nothing keeps a path after its value is walked.
// Copying would make deep nesting quadratic.
func (w *jsonWalker) value(path []pathElem) error {
	w.skipSpace()
	if w.pos >= len(w.data) {
		return errJSONSyntax
	}
	cell, field := cellField(path)
	if cell >= 0 && len(path) == cellFieldDepth(path) && (field == "source" || field == "input") {
		c := w.nb.cell(cell)
		c.hasSource = true
		c.sourceStart = w.pos
		c.sourceArray = w.data[w.pos] == '['
		c.firstElem = -1
	}
	switch c := w.data[w.pos]; c {
	case '{':
		return w.object(path)
	case '[':
		return w.array(path)
	case '"':
		text, err := w.str(path)
		if err != nil {
			return err
		}
		if cell >= 0 && field == "cell_type" && len(path) == cellFieldDepth(path) {
			w.nb.cell(cell).cellType = string(text)
		}
		if isLanguagePath(path) && w.nb.language == "" {
			w.nb.language = strings.ToLower(string(text))
		}
		return nil
	default:
		// A number, true, false or null: no strings inside.
		for w.pos < len(w.data) {
			switch w.data[w.pos] {
			case ',', ']', '}', ' ', '\t', '\n', '\r':
				return nil
			}
			w.pos++
		}
		return nil
	}
}

func (w *jsonWalker) object(path []pathElem) error {
	w.pos++ // '{'
	w.skipSpace()
	if w.pos < len(w.data) && w.data[w.pos] == '}' {
		w.pos++
		return nil
	}
	for {
		w.skipSpace()
		if w.pos >= len(w.data) || w.data[w.pos] != '"' {
			return errJSONSyntax
		}
		// A key belongs to the object that holds it.
		key, err := w.str(path)
		if err != nil {
			return err
		}
		w.skipSpace()
		if w.pos >= len(w.data) || w.data[w.pos] != ':' {
			return errJSONSyntax
		}
		w.pos++
		if err := w.value(append(path, pathElem{key: string(key)})); err != nil {
			return err
		}
		w.skipSpace()
		if w.pos >= len(w.data) {
			return errJSONSyntax
		}
		switch w.data[w.pos] {
		case ',':
			w.pos++
		case '}':
			w.pos++
			return nil
		default:
			return errJSONSyntax
		}
	}
}

func (w *jsonWalker) array(path []pathElem) error {
	w.pos++ // '['
	w.skipSpace()
	cell, field := cellField(path)
	if cell >= 0 && len(path) == cellFieldDepth(path) && (field == "source" || field == "input") {
		w.nb.cell(cell).firstElem = w.pos
	}
	if w.pos < len(w.data) && w.data[w.pos] == ']' {
		w.pos++
		if cell >= 0 && len(path) == cellFieldDepth(path) && (field == "source" || field == "input") {
			w.nb.cell(cell).firstElem = -1
		}
		return nil
	}
	for i := 0; ; i++ {
		if err := w.value(append(path, pathElem{index: i, isIdx: true})); err != nil {
			return err
		}
		w.skipSpace()
		if w.pos >= len(w.data) {
			return errJSONSyntax
		}
		switch w.data[w.pos] {
		case ',':
			w.pos++
		case ']':
			w.pos++
			return nil
		default:
			return errJSONSyntax
		}
	}
}

// str reads the string at w.pos and returns its decoded text. Strings that
// could hold a token (an underscore, literal or escaped) are kept in w.nb.strs
// with their offset maps; the rest, such as base64 images, are not, which
// keeps memory proportional to the text that matters.
func (w *jsonWalker) str(path []pathElem) ([]byte, error) {
	open := w.pos
	w.pos++
	closeAt := -1
	for i := w.pos; i < len(w.data); i++ {
		if w.data[i] == '\\' {
			i++
			continue
		}
		if w.data[i] == '"' {
			closeAt = i
			break
		}
	}
	if closeAt < 0 {
		return nil, errJSONSyntax
	}
	raw := w.data[open+1 : closeAt]
	keep := bytes.IndexByte(raw, '_') >= 0 || bytes.Contains(raw, []byte(`\u`))
	cell, where := classify(path)
	isSource := where == WhereSource && cell >= 0

	var s nbString
	text := make([]byte, 0, len(raw))
	emit := func(b []byte, unitStart, unitEnd int) {
		text = append(text, b...)
		if keep {
			for range b {
				s.rawStart = append(s.rawStart, unitStart)
				s.rawEnd = append(s.rawEnd, unitEnd)
			}
		}
	}
	var buf [utf8.UTFMax]byte
	for i := open + 1; i < closeAt; {
		c := w.data[i]
		if c != '\\' {
			emit(w.data[i:i+1], i, i+1)
			i++
			continue
		}
		if i+1 >= closeAt {
			return nil, errJSONSyntax
		}
		switch e := w.data[i+1]; e {
		case '"', '\\', '/':
			emit([]byte{e}, i, i+2)
			i += 2
		case 'b', 'f', 'n', 'r', 't':
			emit([]byte{unescapeControl(e)}, i, i+2)
			i += 2
		case 'u':
			r, ok := hex4(w.data, i+2, closeAt)
			if !ok {
				return nil, errJSONSyntax
			}
			end := i + 6
			if utf16.IsSurrogate(r) {
				r2, ok2 := rune(-1), false
				if end+1 < closeAt && w.data[end] == '\\' && w.data[end+1] == 'u' {
					r2, ok2 = hex4(w.data, end+2, closeAt)
				}
				if dec := utf16.DecodeRune(r, r2); ok2 && dec != utf8.RuneError {
					r, end = dec, end+6
				} else {
					r = utf8.RuneError // what encoding/json decodes a lone surrogate to
				}
			}
			n := utf8.EncodeRune(buf[:], r)
			emit(buf[:n], i, end)
			i = end
		default:
			return nil, errJSONSyntax
		}
	}
	w.pos = closeAt + 1
	if keep {
		s.text, s.cell, s.where = text, cell, where
		w.nb.strs = append(w.nb.strs, s)
	}
	if isSource {
		w.nb.cell(cell).source.Write(text)
	}
	return text, nil
}

func unescapeControl(e byte) byte {
	switch e {
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	}
	return '\t'
}

func hex4(data []byte, at, limit int) (rune, bool) {
	if at+4 > limit {
		return 0, false
	}
	v, err := strconv.ParseUint(string(data[at:at+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	return rune(v), true
}

func (nb *notebook) cell(i int) *nbCell {
	c := nb.cells[i]
	if c == nil {
		c = &nbCell{firstElem: -1}
		nb.cells[i] = c
	}
	return c
}

// cellField returns the cell index and the cell's field a path runs through,
// or -1. nbformat 3 notebooks keep cells under worksheets[w].cells and call
// the source "input"; cells are then numbered within their worksheet.
func cellField(path []pathElem) (cell int, field string) {
	p := stripWorksheet(path)
	if len(p) < 2 || p[0].isIdx || p[0].key != "cells" || !p[1].isIdx {
		return -1, ""
	}
	if len(p) >= 3 && !p[2].isIdx {
		field = p[2].key
	}
	return p[1].index, field
}

// cellFieldDepth is the path length of a value that is itself a cell field,
// such as cells[i].source.
func cellFieldDepth(path []pathElem) int {
	if len(path) >= 2 && !path[0].isIdx && path[0].key == "worksheets" && path[1].isIdx {
		return 5
	}
	return 3
}

func stripWorksheet(path []pathElem) []pathElem {
	if len(path) >= 2 && !path[0].isIdx && path[0].key == "worksheets" && path[1].isIdx {
		return path[2:]
	}
	return path
}

// classify names where a string at path sits. Keys use the path of the
// object that holds them.
func classify(path []pathElem) (cell int, where string) {
	cell, field := cellField(path)
	if cell < 0 {
		return -1, WhereMetadata
	}
	switch field {
	case "source", "input":
		return cell, WhereSource
	case "outputs":
		return cell, WhereOutput
	}
	return cell, WhereMetadata
}

func isLanguagePath(path []pathElem) bool {
	if len(path) != 3 || path[0].isIdx || path[0].key != "metadata" || path[1].isIdx || path[2].isIdx {
		return false
	}
	return (path[1].key == "kernelspec" && path[2].key == "language") ||
		(path[1].key == "language_info" && path[2].key == "name")
}

// Cell source checks used when rewriting literals, compiled on first use
// (the CLI links this package; most commands never redact).
var (
	importOSLine = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?m)^[ \t]*import[ \t]+(?:[\w.]+[ \t]*,[ \t]*)*os[ \t]*(?:,.*)?(?:#.*)?$`)
	})
	// loginCall is a whole line that calls huggingface_hub's login: its
	// indent, the function and its arguments.
	loginCall = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^([ \t]*)(?:[A-Za-z_][A-Za-z0-9_]*\.)*(login|notebook_login|interpreter_login)[ \t]*\((.*)\)[ \t]*;?[ \t]*\r?$`)
	})
	futureImport = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?m)^[ \t]*from[ \t]+__future__[ \t]+import`)
	})
)
