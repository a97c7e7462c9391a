package scan

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hfbroker/hfbroker/internal/secret"
)

func TestRedactReplacesTokensInAPlainFile(t *testing.T) {
	m := newTokenMaker(50)
	a, b := m.hf(), m.apiOrg()
	dir := t.TempDir()
	p := filepath.Join(dir, ".env")
	orig := "# keep me\r\nHF_TOKEN=" + a + "\r\nORG=" + b + "\nAGAIN=" + a
	writeFile(t, p, orig, 0o640)
	found, err := Scan(t.Context(), []string{p}, Options{})
	if err != nil || len(found) != 3 {
		t.Fatalf("scan: %v, %v", found, err)
	}
	if err := Redact(p, found, ""); err != nil {
		t.Fatal(err)
	}
	want := "# keep me\r\nHF_TOKEN=hf_REDACTED\r\nORG=hf_REDACTED\nAGAIN=hf_REDACTED"
	if got := readFile(t, p); got != want {
		t.Errorf("file is %q, want %q", got, want)
	}
	if info, _ := os.Stat(p); info.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", info.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

func TestRedactOnlyTouchesListedTokens(t *testing.T) {
	m := newTokenMaker(51)
	a, b := m.hf(), m.hf()
	p := filepath.Join(t.TempDir(), "x.py")
	writeFile(t, p, "a = '"+a+"'\nb = '"+b+"'\n", 0o644)
	found, _ := Scan(t.Context(), []string{p}, Options{})
	if err := Redact(p, found[:1], "<gone>"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, p); got != "a = '<gone>'\nb = '"+b+"'\n" {
		t.Errorf("file is %q", got)
	}
}

func TestRedactRefusesAndLeavesTheFile(t *testing.T) {
	m := newTokenMaker(52)
	tok := m.hf()
	cases := []struct {
		name        string
		findings    func(p string) []Finding
		placeholder string
		wantErr     error
		wantText    string
	}{
		{
			name:     "a token no longer in the file means it changed",
			findings: func(p string) []Finding { return []Finding{{Path: p, Token: secret.Token("hf_" + "Q" + m.body(33))}} },
			wantErr:  ErrStale,
		},
		{
			name:        "a placeholder that looks like a token",
			findings:    func(p string) []Finding { return []Finding{{Path: p, Token: "x"}} },
			placeholder: "hf_" + m.body(34),
			wantErr:     ErrBadPlaceholder,
		},
		{
			name:     "a finding from another file",
			findings: func(p string) []Finding { return []Finding{{Path: p + ".other", Token: "x"}} },
			wantText: "another file",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "f.txt")
			content := "t=" + tok + "\n"
			writeFile(t, p, content, 0o644)
			err := Redact(p, tc.findings(p), tc.placeholder)
			if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("err = %v, want %v / %q", err, tc.wantErr, tc.wantText)
			}
			assertNoToken(t, "error", err.Error(), tok, tc.placeholder)
			if readFile(t, p) != content {
				t.Error("the file changed")
			}
		})
	}
}

func TestRedactRefusesSymlinks(t *testing.T) {
	tok := newTokenMaker(53).hf()
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	writeFile(t, target, tok, 0o644)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	err := Redact(link, []Finding{{Path: link, Token: "hf_x"}}, "")
	if !errors.Is(err, ErrNotRegular) {
		t.Fatalf("err = %v, want ErrNotRegular", err)
	}
	if readFile(t, target) != tok {
		t.Error("target changed")
	}
}

func FuzzParseStoredTokens(f *testing.F) {
	m := newTokenMaker(54)
	f.Add([]byte("[a]\nhf_token = " + m.hf() + "\n\n[oauth-b]\nhf_token = " + m.oauth() + "\nrefresh_token = r\nexpires_at = 1\n"))
	f.Add([]byte("[DEFAULT]\nhf_token: x\n[b]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parseStoredTokens(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error type: %v", err)
			}
			// Error text carries line numbers and section names, never a
			// value; a section name is the only input that may appear.
			for _, v := range Find(data) {
				if strings.Contains(err.Error(), v.Token.Reveal()) && !strings.Contains(string(data), "["+v.Token.Reveal()) {
					t.Fatalf("error reveals a value")
				}
			}
			return
		}
		for _, s := range got {
			if s.Token == "" || s.Section == iniDefaultSection {
				t.Fatalf("bad entry %+v", s)
			}
		}
	})
}
