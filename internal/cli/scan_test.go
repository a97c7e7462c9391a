package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hfbroker/hfbroker/internal/secret"
)

const scanNotebook = `{
 "cells": [
  {"cell_type": "markdown", "metadata": {}, "source": ["# Notes\n"]},
  {"cell_type": "code", "execution_count": 1, "metadata": {},
   "outputs": [{"name": "stdout", "output_type": "stream", "text": ["OUTTOKEN\n"]}],
   "source": ["from huggingface_hub import login\n", "login(\"SRCTOKEN\")"]}
 ],
 "metadata": {"kernelspec": {"language": "python", "name": "python3"}},
 "nbformat": 4, "nbformat_minor": 5
}
`

type scanWorld struct {
	dir         string
	out, errOut bytes.Buffer
	opts        *ScanOptions
}

// newScanWorld plants tokWrite in a notebook's code cell, tokRead in its
// output and tokFG in a .env file, plus a .git directory and a clean file.
func newScanWorld(t *testing.T, profiles map[string]string, profilesErr error) *scanWorld {
	t.Helper()
	w := &scanWorld{dir: t.TempDir()}
	nb := strings.NewReplacer("SRCTOKEN", tokWrite, "OUTTOKEN", tokRead).Replace(scanNotebook)
	files := map[string]string{
		"nb.ipynb":    nb,
		".env":        "HF_TOKEN=" + tokFG + "\n",
		".git/config": "url = https://a:" + tokWrite + "@huggingface.co\n",
		"clean.py":    "import os\n",
	}
	for name, content := range files {
		p := filepath.Join(w.dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f := &Factory{IO: &IOStreams{In: strings.NewReader(""), Out: &w.out, ErrOut: &w.errOut, InFd: -1}, Env: func(string) string { return "" }}
	w.opts = &ScanOptions{IO: f.IO, Paths: []string{w.dir}, Profiles: func(context.Context) (map[string]string, error) { return profiles, profilesErr },
		LeaseTokens: func(context.Context) (map[string]leaseTokenInfo, error) { return nil, errors.New("not running") }}
	return w
}

func (w *scanWorld) run(t *testing.T) int {
	t.Helper()
	err := scanRun(context.Background(), w.opts)
	for _, tok := range []string{tokWrite, tokRead, tokFG} {
		if strings.Contains(w.out.String(), tok) || strings.Contains(w.errOut.String(), tok) {
			t.Fatalf("scan output holds a token in clear:\n%s%s", w.out.String(), w.errOut.String())
		}
	}
	return exitCodeOf(err)
}

func TestScanReportsEveryTokenWithItsCellAndProfile(t *testing.T) {
	w := newScanWorld(t, map[string]string{secret.Token(tokWrite).Fingerprint(): "laptop"}, nil)
	if code := w.run(t); code != ExitError {
		t.Errorf("exit = %d, want 1 when tokens are found", code)
	}
	out := w.out.String()
	for _, want := range []string{
		"/.env:1:10: hf token " + secret.Mask(tokFG) + "; not a stored profile\n",
		"hf token " + secret.Mask(tokWrite) + ` (cell 1 source); same token as profile "laptop"` + "\n",
		"hf token " + secret.Mask(tokRead) + " (cell 1 output); not a stored profile\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "hf token") != 3 {
		t.Errorf("want exactly the 3 planted tokens (not the one under .git):\n%s", out)
	}
}

func TestScanWithoutADaemonSaysTheProfileIsUnknown(t *testing.T) {
	w := newScanWorld(t, nil, errors.New("hfbrokerd is not running"))
	if code := w.run(t); code != ExitError {
		t.Errorf("exit = %d, want 1", code)
	}
	if strings.Count(w.out.String(), "; stored profile unknown\n") != 3 || !strings.Contains(w.errOut.String(), "hfbrokerd is not running") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", w.out.String(), w.errOut.String())
	}
}

func TestScanJSON(t *testing.T) {
	w := newScanWorld(t, map[string]string{secret.Token(tokRead).Fingerprint(): "reader"}, nil)
	w.opts.JSON = true
	if code := w.run(t); code != ExitError {
		t.Errorf("exit = %d, want 1", code)
	}
	var got scanJSON
	if err := json.Unmarshal(w.out.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, w.out.String())
	}
	if len(got.Findings) != 3 {
		t.Fatalf("findings = %+v", got.Findings)
	}
	var output *scanFindingJSON
	for i := range got.Findings {
		if got.Findings[i].Where == "output" {
			output = &got.Findings[i]
		}
	}
	if output == nil || output.Cell == nil || *output.Cell != 1 || output.Stored == nil || !*output.Stored || output.Profile != "reader" || output.Token != secret.Mask(tokRead) {
		t.Errorf("output finding = %+v", output)
	}
}

func TestScanRedactKeepsTheNotebookValidAndExitsOne(t *testing.T) {
	w := newScanWorld(t, nil, errors.New("not running"))
	w.opts.Redact = true
	if code := w.run(t); code != ExitError {
		t.Errorf("exit = %d, want 1: a hook that changed files fails the commit", code)
	}
	data, err := os.ReadFile(filepath.Join(w.dir, "nb.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	var nb struct {
		Cells []struct {
			Source []string `json:"source"`
		} `json:"cells"`
	}
	if err := json.Unmarshal(data, &nb); err != nil {
		t.Fatalf("redacted notebook is not JSON: %v\n%s", err, data)
	}
	// Issue 18: login("hf_…") becomes a comment, not login(os.environ[…]),
	// which would write the token to huggingface_hub's token file.
	if len(nb.Cells) != 2 || !strings.Contains(strings.Join(nb.Cells[1].Source, ""), `pass  # hfbroker: this kernel already has a lease`) {
		t.Errorf("redacted notebook cells = %+v", nb.Cells)
	}
	for _, tok := range []string{tokWrite, tokRead} {
		if bytes.Contains(data, []byte(tok)) {
			t.Errorf("the notebook still holds a token")
		}
	}
	if !strings.Contains(w.out.String(), "redacted 2 tokens in ") || !strings.Contains(w.out.String(), "redacted 1 token in ") {
		t.Errorf("output:\n%s", w.out.String())
	}

	// Scanning again finds nothing and exits 0.
	w.out.Reset()
	w.errOut.Reset()
	w.opts.Redact = false
	if code := w.run(t); code != ExitOK || w.out.Len() != 0 {
		t.Errorf("rescan exit = %d, output:\n%s", code, w.out.String())
	}
}

func TestScanOfACleanFileExitsZero(t *testing.T) {
	w := newScanWorld(t, nil, nil)
	w.opts.Paths = []string{filepath.Join(w.dir, "clean.py")}
	w.opts.Profiles = func(context.Context) (map[string]string, error) {
		t.Error("scan asked the daemon with nothing found")
		return nil, nil
	}
	if code := w.run(t); code != ExitOK {
		t.Errorf("exit = %d, want 0", code)
	}
}

func TestScanOfAMissingPathFails(t *testing.T) {
	w := newScanWorld(t, nil, nil)
	w.opts.Paths = []string{filepath.Join(w.dir, "missing")}
	if code := w.run(t); code != ExitError || !strings.Contains(w.errOut.String(), "hfbroker: error: ") {
		t.Errorf("exit = %d, stderr:\n%s", code, w.errOut.String())
	}
}

func TestScanFlags(t *testing.T) {
	var got *ScanOptions
	f := &Factory{IO: &IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}, InFd: -1}, Env: func(string) string { return "" }}
	cmd := newCmdScan(f, func(o *ScanOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--redact", "--json", "a", "b"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !got.Redact || !got.JSON || strings.Join(got.Paths, ",") != "a,b" {
		t.Errorf("options = %+v", got)
	}
}

// Issue 18: a lease token left in a notebook is worthless once its lease has
// ended; scan says so and does not fail for it. A live lease token, or a real
// token beside it, still fails the scan.
func TestScanReportsEndedLeaseTokensAndExitsZero(t *testing.T) {
	for _, tc := range []struct {
		name  string
		known map[string]leaseTokenInfo
		code  int
		want  []string
	}{
		{"both ended", map[string]leaseTokenInfo{
			secret.Fingerprint(tokWrite): {LeaseID: "l-1", Ended: true},
			secret.Fingerprint(tokRead):  {LeaseID: "l-2", Ended: true},
		}, ExitOK, []string{"lease token, ended (lease l-1)", "lease token, ended (lease l-2)"}},
		{"one live", map[string]leaseTokenInfo{
			secret.Fingerprint(tokWrite): {LeaseID: "l-1", Ended: true},
			secret.Fingerprint(tokRead):  {LeaseID: "l-2"},
		}, ExitError, []string{"lease token, ended (lease l-1)", "lease token, live (lease l-2)"}},
		{"one real", map[string]leaseTokenInfo{
			secret.Fingerprint(tokWrite): {LeaseID: "l-1", Ended: true},
		}, ExitError, []string{"lease token, ended (lease l-1)", "not a stored profile"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newScanWorld(t, map[string]string{}, nil)
			w.opts.Paths = []string{filepath.Join(w.dir, "nb.ipynb")}
			w.opts.LeaseTokens = func(context.Context) (map[string]leaseTokenInfo, error) { return tc.known, nil }
			if code := w.run(t); code != tc.code {
				t.Errorf("exit = %d, want %d\n%s%s", code, tc.code, w.out.String(), w.errOut.String())
			}
			for _, want := range tc.want {
				if !strings.Contains(w.out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, w.out.String())
				}
			}
		})
	}
}

// The Jupyter save hook pipes the notebook through 'scan --redact -': the
// redacted notebook comes out on stdout, the report on stderr.
func TestScanRedactStdinIsAFilter(t *testing.T) {
	w := newScanWorld(t, map[string]string{}, nil)
	nb := strings.NewReplacer("SRCTOKEN", tokWrite, "OUTTOKEN", tokRead).Replace(scanNotebook)
	w.opts.IO.In = strings.NewReader(nb)
	w.opts.Paths, w.opts.Redact = []string{"-"}, true
	if code := w.run(t); code != ExitError {
		t.Errorf("exit = %d, want 1 (tokens were found)", code)
	}
	if !json.Valid(w.out.Bytes()) || !strings.Contains(w.out.String(), `"cells"`) {
		t.Fatalf("stdout is not the notebook:\n%s", w.out.String())
	}
	if !strings.Contains(w.out.String(), "hf_REDACTED") || !strings.Contains(w.errOut.String(), "redacted 2 tokens in -") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", w.out.String(), w.errOut.String())
	}

	// "-" with paths is a usage error.
	w.opts.Paths = []string{"-", w.dir}
	if ue, ok := errors.AsType[*userError](scanRun(context.Background(), w.opts)); !ok || ue.code != ExitUsage {
		t.Errorf("scan - PATH: %v, want a usage error", ue)
	}
}
