//go:build unix

package front

import (
	"slices"
	"testing"
)

// The front takes only the argument forms it is sure the full CLI reads the
// same way (pflag's), and hands everything else over: a form it misread
// would lease the wrong token without a word.
func TestChoiceParseTakesOnlyWhatItUnderstands(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		isExec bool
		rest   []string // nil: handed over
	}{
		{"token, nothing", nil, false, []string{}},
		{"token, --profile NAME and --repo=R", []string{"--profile", "p", "--write-repo=acme/x"}, false, []string{}},
		{"token, a positional argument comes back (token hands it over)", []string{"extra"}, false, []string{"extra"}},
		{"token, a shorthand", []string{"-h"}, false, nil},
		{"token, --help", []string{"--help"}, false, nil},
		{"token, an unknown flag", []string{"--bogus"}, false, nil},
		{"token takes no --ttl", []string{"--ttl", "1m"}, false, nil},
		{"token takes no --proxy", []string{"--proxy"}, false, nil},
		{"token, --", []string{"--"}, false, nil},
		{"an empty value", []string{"--profile", ""}, false, nil},
		{"a value missing at the end", []string{"--repo"}, false, nil},
		{"a bool with a value", []string{"--write=true"}, false, nil},
		{"--profile twice (pflag's last wins: the full CLI's call)", []string{"--profile", "a", "--profile", "b"}, false, nil},
		{"--repo is repeatable", []string{"--repo", "a/b", "--repo", "c/d"}, false, []string{}},
		{"exec stops at the command", []string{"--repo", "a/b", "python", "-u", "--profile", "x"}, true, []string{"python", "-u", "--profile", "x"}},
		{"exec after --", []string{"--ttl=5m", "--", "-weird", "x"}, true, []string{"-weird", "x"}},
		{"exec --mask is the full CLI's", []string{"--mask", "--", "true"}, true, nil},
		{"exec --allow-nested is the full CLI's", []string{"--allow-nested", "true"}, true, nil},
		{"exec, a bad duration", []string{"--ttl", "soon", "true"}, true, nil},
		{"exec, \"-\" as the command", []string{"-"}, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c choice
			rest, err := c.parse(tc.args, tc.isExec, !tc.isExec)
			if tc.rest == nil {
				if err == nil {
					t.Fatalf("parse(%q) = %q, want a hand-over", tc.args, rest)
				}
				return
			}
			if err != nil || !slices.Equal(rest, tc.rest) && !(len(rest) == 0 && len(tc.rest) == 0) {
				t.Fatalf("parse(%q) = %q, %v; want %q", tc.args, rest, err, tc.rest)
			}
		})
	}
}
