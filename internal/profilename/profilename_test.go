package profilename

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string // "" means accepted
	}{
		{"a word", "laptop", ""},
		{"letters, digits and -_.@ after the first", "acme-ci_2.x@work", ""},
		{"64 characters", strings.Repeat("a", 64), ""},
		{"empty", "", "profile name is empty"},
		{"65 characters", strings.Repeat("a", 65), "longer than 64"},
		{"a path", "a/b", `profile name "a/b" contains a '/'`},
		{"dot dot", "a..b", "contains '..'"},
		{"a space", "two words", "contains a space"},
		{"starting with a dash", "-x", `contains '-'`},
		{"a control character, quoted", "a\x1bb", `"a\x1bb" contains a control character`},
		{"a backslash", `a\b`, `contains a '\'`},
		{"non-ASCII", "café", `contains 'é'`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.in)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Check(%q) = %v, want nil", tc.in, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Check(%q) = %v, want an error containing %q", tc.in, err, tc.wantErr)
			}
		})
	}
}
