package scan

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hfbroker/hfbroker/internal/secret"
)

// StoredToken is one section of huggingface_hub's stored_tokens file.
type StoredToken struct {
	Section    string // the token's name: its displayName, or oauth-<user>
	Token      secret.Token
	HasRefresh bool         // an OAuth entry with a refresh_token
	Refresh    secret.Token // the refresh_token of an OAuth entry (issue 14: import carries it)
	ExpiresAt  time.Time    // zero when absent or unparsable
}

func (s StoredToken) String() string {
	return fmt.Sprintf("[%s] %s", s.Section, s.Token)
}

// ReadStoredTokens reads stored_tokens, the INI file huggingface_hub writes
// with configparser (interpolation off): one [name] section per token with an
// hf_token key, plus refresh_token and expires_at for OAuth logins. Sections
// come back in file order.
//
// The reader is strict where huggingface_hub would give up: configparser
// raises on a duplicate section or key, a key outside a section or a section
// without hf_token, and huggingface_hub then treats the whole file as empty.
// Here those are ErrMalformed, with a line number but never line content.
func ReadStoredTokens(path string) ([]StoredToken, error) {
	data, err := readSmall(path)
	if err != nil {
		return nil, fmt.Errorf("read stored tokens: %w", err)
	}
	tokens, err := parseStoredTokens(data)
	if err != nil {
		return nil, fmt.Errorf("read stored tokens %s: %w", path, err)
	}
	return tokens, nil
}

// configparser's default section: its keys are defaults for every other
// section, and it is not itself listed by sections().
const iniDefaultSection = "DEFAULT"

type iniSection struct {
	name string
	keys map[string]string
}

func parseStoredTokens(data []byte) ([]StoredToken, error) {
	sections, err := parseINI(string(data))
	if err != nil {
		return nil, err
	}
	defaults := map[string]string{}
	for _, s := range sections {
		if s.name == iniDefaultSection {
			defaults = s.keys
		}
	}
	get := func(s iniSection, key string) (string, bool) {
		if v, ok := s.keys[key]; ok {
			return v, true
		}
		v, ok := defaults[key]
		return v, ok
	}
	var out []StoredToken
	for _, s := range sections {
		if s.name == iniDefaultSection {
			continue
		}
		tok, ok := get(s, "hf_token")
		if !ok || tok == "" {
			return nil, fmt.Errorf("%w: section %q has no hf_token", ErrMalformed, s.name)
		}
		st := StoredToken{Section: s.name, Token: secret.Token(tok)}
		if r, _ := get(s, "refresh_token"); r != "" {
			st.HasRefresh, st.Refresh = true, secret.Token(r)
		}
		if e, _ := get(s, "expires_at"); e != "" {
			if secs, err := strconv.ParseInt(e, 10, 64); err == nil {
				st.ExpiresAt = time.Unix(secs, 0)
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// parseINI reads the subset of configparser syntax that stored_tokens uses:
// [section] headers, "key = value" or "key: value" (keys case-folded, values
// trimmed, no inline comments), whole-line # and ; comments, blank lines.
// Continuation lines are refused: huggingface_hub never writes them, and a
// token never spans lines.
func parseINI(text string) ([]iniSection, error) {
	text = strings.TrimPrefix(text, "\ufeff")
	var (
		sections []iniSection
		cur      = -1
		inValue  bool
	)
	seen := map[string]bool{}
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		line = strings.TrimSuffix(line, "\r")
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			inValue = false
			continue
		case trimmed[0] == '#' || trimmed[0] == ';':
			continue
		case inValue && (line[0] == ' ' || line[0] == '\t'):
			return nil, fmt.Errorf("%w: line %d continues a value", ErrMalformed, n)
		case trimmed[0] == '[':
			if len(trimmed) < 3 || trimmed[len(trimmed)-1] != ']' {
				return nil, fmt.Errorf("%w: line %d is not a section header", ErrMalformed, n)
			}
			name := trimmed[1 : len(trimmed)-1]
			if seen[name] {
				return nil, fmt.Errorf("%w: line %d repeats section %q", ErrMalformed, n, name)
			}
			seen[name] = true
			sections = append(sections, iniSection{name: name, keys: map[string]string{}})
			cur = len(sections) - 1
			inValue = false
			continue
		}
		if cur < 0 {
			return nil, fmt.Errorf("%w: line %d comes before any section header", ErrMalformed, n)
		}
		sep := strings.IndexAny(trimmed, "=:")
		if sep < 0 {
			return nil, fmt.Errorf("%w: line %d has no '=' or ':'", ErrMalformed, n)
		}
		key := strings.ToLower(strings.TrimSpace(trimmed[:sep]))
		if key == "" {
			return nil, fmt.Errorf("%w: line %d has an empty key", ErrMalformed, n)
		}
		if _, dup := sections[cur].keys[key]; dup {
			return nil, fmt.Errorf("%w: line %d repeats a key", ErrMalformed, n)
		}
		sections[cur].keys[key] = strings.TrimSpace(trimmed[sep+1:])
		inValue = true
	}
	return sections, nil
}
