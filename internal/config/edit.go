package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/hfbroker/hfbroker/internal/atomicfile"
)

// SetBackend records backend = "kind" in config.toml, keeping the user's
// comments and layout. The edited text is parsed back before it replaces the
// file: it must decode to the same config with only the backend changed, so
// a migration never leaves a file the next daemon start cannot read (issue
// 19: a quoted "backend" key got a second, bare one beside it).
func SetBackend(path, kind string) error {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read config: %w", err)
	}
	before, err := decodeLoose(string(b))
	if err != nil {
		return fmt.Errorf("%s does not parse, so it cannot be edited safely (fix it first): %w", path, err)
	}
	out := setTopLevel(string(b), "backend", fmt.Sprintf("%q", kind))
	after, err := decodeLoose(out)
	if err != nil {
		return fmt.Errorf("edit backend in %s: the result would not parse (%v); set backend = %q by hand", path, err, kind)
	}
	got, _ := after["backend"].(string)
	delete(before, "backend")
	delete(after, "backend")
	if got != kind || !reflect.DeepEqual(before, after) {
		return fmt.Errorf("edit backend in %s: the result would change more than the backend; set backend = %q by hand", path, kind)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, []byte(out), 0o600)
}

// decodeLoose parses TOML into a generic map, to compare two versions.
func decodeLoose(s string) (map[string]any, error) {
	m := map[string]any{}
	if _, err := toml.Decode(s, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// setTopLevel sets key = value among the top-level keys of a TOML text (those
// before the first table header), whatever the spelling of the key there:
// bare, "quoted" or 'literal', with or without spaces. A trailing comment on
// the line stays. Without such a key, the line goes first in the file.
func setTopLevel(text, key, value string) string {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") {
			break // top-level keys end at the first table header
		}
		cr := ""
		if strings.HasSuffix(l, "\r") {
			l, cr = strings.TrimSuffix(l, "\r"), "\r"
		}
		k, _, ok := strings.Cut(t, "=")
		if !ok || !isKey(l, key) {
			continue
		}
		indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		lines[i] = indent + strings.TrimSpace(k) + " = " + value + trailingComment(l) + cr
		return strings.Join(lines, "\n")
	}
	return key + " = " + value + "\n" + text
}

// isKey reports whether line is one key/value pair whose key, as TOML reads
// it, is exactly key at the top level (not a dotted key).
func isKey(line, key string) bool {
	m := map[string]any{}
	if _, err := toml.Decode(line, &m); err != nil || len(m) != 1 {
		return false
	}
	v, ok := m[key]
	if !ok {
		return false
	}
	_, table := v.(map[string]any)
	return !table
}

// trailingComment returns the " # …" that ends a key/value line, if any:
// the first # at which the text before it still parses is outside the value.
func trailingComment(line string) string {
	for i := 0; i < len(line); i++ {
		if line[i] != '#' {
			continue
		}
		m := map[string]any{}
		if _, err := toml.Decode(line[:i], &m); err == nil && len(m) == 1 {
			return " " + line[i:]
		}
	}
	return ""
}
