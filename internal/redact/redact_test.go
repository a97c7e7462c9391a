package redact

import "testing"

func TestOneLineLeavesNoLineToForge(t *testing.T) {
	for in, want := range map[string]string{
		"":                              "",
		"  plain  ":                     "plain",
		"a\nhfbroker: hint: run this":   "a hfbroker: hint: run this",
		"a\r\nb":                        "a  b",
		"tab\tstays":                    "tab\tstays",
		"esc\x1b[2Jbell\x07del\x7f":     "esc [2Jbell del ",
		"password=x\nusername=evil\n\n": "password=x username=evil",
	} {
		if got := OneLine(in); got != want {
			t.Errorf("OneLine(%q) = %q, want %q", in, got, want)
		}
	}
}
