package scan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeHome plants tokens where people leave them and returns the home
// directory and the expected findings as "relpath:line:col" plus notebook
// location, keyed by token.
type planted struct {
	rel        string
	line, col  int
	cell       int
	where      string
	isNotebook bool
}

func fakeHome(t *testing.T, m *tokenMaker) (home string, want map[string]planted, decoys []string) {
	t.Helper()
	home = t.TempDir()
	want = map[string]planted{}
	mk := func(rel string) string {
		p := filepath.Join(home, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		return p
	}
	active := m.hf()
	writeFile(t, mk(".cache/huggingface/token"), active, 0o600)
	want[active] = planted{rel: ".cache/huggingface/token", line: 1, col: 1}

	s1, s2, s3 := m.hf(), m.oauth(), m.hf()
	writeFile(t, mk(".cache/huggingface/stored_tokens"),
		"[laptop]\nhf_token = "+s1+"\n\n[oauth-alice]\nhf_token = "+s2+"\nrefresh_token = r\nexpires_at = 1752192000\n\n[work]\nhf_token: "+s3+"\n", 0o600)
	want[s1] = planted{rel: ".cache/huggingface/stored_tokens", line: 2, col: 12}
	want[s2] = planted{rel: ".cache/huggingface/stored_tokens", line: 5, col: 12}
	want[s3] = planted{rel: ".cache/huggingface/stored_tokens", line: 10, col: 11}

	g1, g2 := m.hf(), m.hf()
	writeFile(t, mk(".git-credentials"), "https://hf_user:"+g1+"@huggingface.co\r\nhttps://octo:ghp_notatoken@github.com\nhttps://u:"+g2+"@huggingface.co/acme/repo", 0o600)
	want[g1] = planted{rel: ".git-credentials", line: 1, col: 17}
	want[g2] = planted{rel: ".git-credentials", line: 3, col: 11}

	e1 := m.hf()
	writeFile(t, mk("proj/.env"), "# settings\nDEBUG=1\nHF_TOKEN="+e1+"\n", 0o644)
	want[e1] = planted{rel: "proj/.env", line: 3, col: 10}

	toks := [5]string{m.hf(), m.hf(), m.hf(), m.hf(), m.hf()}
	writeFile(t, mk("proj/notebooks/train.ipynb"), notebookJSON("python", toks), 0o644)
	want[toks[3]] = planted{rel: "proj/notebooks/train.ipynb", line: 8, col: 24, cell: 0, where: WhereSource, isNotebook: true}
	want[toks[1]] = planted{rel: "proj/notebooks/train.ipynb", line: 23, col: 19, cell: 1, where: WhereOutput, isNotebook: true}
	want[toks[2]] = planted{rel: "proj/notebooks/train.ipynb", line: 29, col: 10, cell: 1, where: WhereOutput, isNotebook: true}
	want[toks[0]] = planted{rel: "proj/notebooks/train.ipynb", line: 39, col: 16, cell: 1, where: WhereSource, isNotebook: true}
	want[toks[4]] = planted{rel: "proj/notebooks/train.ipynb", line: 51, col: 31, cell: -1, where: WhereMetadata, isNotebook: true}

	// Decoys: each holds a token Scan must not report.
	d1, d2, d3 := m.hf(), m.hf(), m.hf()
	writeFile(t, mk("proj/.git/config"), "[remote]\nurl = https://u:"+d1+"@huggingface.co/x\n", 0o644)
	writeFile(t, mk("proj/model.bin"), "\x00\x01weights"+d2, 0o644)
	outside := filepath.Join(t.TempDir(), "outside.txt")
	writeFile(t, outside, d3, 0o644)
	if err := os.Symlink(outside, mk("proj/link.txt")); err != nil {
		t.Fatal(err)
	}
	return home, want, []string{d1, d2, d3}
}

func TestScanFindsEveryPlantedToken(t *testing.T) {
	m := newTokenMaker(20)
	home, want, decoys := fakeHome(t, m)
	var skipped []string
	got, err := Scan(t.Context(), []string{home}, Options{Skipped: func(p, reason string) {
		rel, _ := filepath.Rel(home, p)
		skipped = append(skipped, rel+": "+reason)
	}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, g := range got {
		tok := g.Token.Reveal()
		for _, d := range decoys {
			if tok == d {
				t.Errorf("reported a token that is in a skipped file: %v", g)
			}
		}
		w, ok := want[tok]
		if !ok {
			t.Errorf("unexpected finding %v", g)
			continue
		}
		seen[tok] = true
		rel, _ := filepath.Rel(home, g.Path)
		if rel != filepath.FromSlash(w.rel) || g.Line != w.line || g.Col != w.col {
			t.Errorf("finding %v, want %s:%d:%d", g, w.rel, w.line, w.col)
		}
		switch {
		case w.isNotebook && (g.Notebook == nil || g.Notebook.Cell != w.cell || g.Notebook.Where != w.where):
			t.Errorf("finding %v, want cell %d %s", g, w.cell, w.where)
		case !w.isNotebook && g.Notebook != nil:
			t.Errorf("finding %v should have no notebook location", g)
		}
	}
	for tok, w := range want {
		if !seen[tok] {
			t.Errorf("missed the token planted at %s:%d", w.rel, w.line)
		}
	}
	slices.Sort(skipped)
	wantSkipped := []string{
		filepath.FromSlash("proj/.git") + ": " + SkipGitDir,
		filepath.FromSlash("proj/link.txt") + ": " + SkipSymlink,
		filepath.FromSlash("proj/model.bin") + ": " + SkipBinary,
	}
	if !slices.Equal(skipped, wantSkipped) {
		t.Errorf("skipped %q, want %q", skipped, wantSkipped)
	}
	all := fmt.Sprint(got) + fmt.Sprintf("%+v %#v", got, got)
	for tok := range want {
		assertNoToken(t, "printed findings", all, tok)
	}
}

func TestScanOrderDoesNotDependOnRoots(t *testing.T) {
	m := newTokenMaker(21)
	home, _, _ := fakeHome(t, m)
	roots := []string{filepath.Join(home, "proj"), filepath.Join(home, ".git-credentials"), filepath.Join(home, ".cache")}
	a, err := Scan(t.Context(), roots, Options{})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(roots)
	roots = append(roots, filepath.Join(home, "proj", ".env")) // overlapping root: no duplicate
	b, err := Scan(t.Context(), roots, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 12 || fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("scans differ or miscounted (%d findings):\n%v\n%v", len(a), a, b)
	}
	if !slices.IsSortedFunc(a, func(x, y Finding) int {
		return strings.Compare(fmt.Sprintf("%s\x00%09d", x.Path, x.Offset), fmt.Sprintf("%s\x00%09d", y.Path, y.Offset))
	}) {
		t.Error("findings are not sorted by path and offset")
	}
}

func TestScanSkipsFilesOverTheSizeLimit(t *testing.T) {
	m := newTokenMaker(22)
	dir := t.TempDir()
	small, big := m.hf(), m.hf()
	writeFile(t, filepath.Join(dir, "small.txt"), small, 0o644)
	writeFile(t, filepath.Join(dir, "big.txt"), strings.Repeat("x", 100)+" "+big, 0o644)
	var reasons []string
	got, err := Scan(t.Context(), []string{dir}, Options{MaxSize: 64, Skipped: func(_, r string) { reasons = append(reasons, r) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Token.Reveal() != small {
		t.Errorf("got %v, want only the small file's token", got)
	}
	if !slices.Equal(reasons, []string{SkipTooLarge}) {
		t.Errorf("skip reasons %q", reasons)
	}
}

func TestScanReportsUnreadableRootsButKeepsGoing(t *testing.T) {
	m := newTokenMaker(23)
	dir := t.TempDir()
	tok := m.hf()
	writeFile(t, filepath.Join(dir, "a.txt"), tok, 0o644)
	missing := filepath.Join(dir, "missing")
	got, err := Scan(t.Context(), []string{missing, dir}, Options{})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("err = %v, want a not-exist error naming the root", err)
	}
	if len(got) != 1 {
		t.Errorf("got %v, want the token from the readable root", got)
	}
}

func TestScanStopsWhenCancelled(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.txt"), "nothing", 0o644)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Scan(ctx, []string{dir}, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestScanDoesNotBlockOnAFIFO(t *testing.T) {
	dir := t.TempDir()
	if err := mkfifo(filepath.Join(dir, "pipe")); err != nil {
		t.Skipf("no FIFOs on this platform: %v", err)
	}
	var reasons []string
	if _, err := Scan(t.Context(), []string{dir}, Options{Skipped: func(_, r string) { reasons = append(reasons, r) }}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(reasons, []string{SkipSpecial}) {
		t.Errorf("reasons %q", reasons)
	}
}

// TestPackageFilesHoldNoTokens keeps token-shaped strings out of the
// repository: fixtures are generated at run time and fuzz seeds spell the
// prefix with an escape, so neither this scanner nor GitHub's flags them.
func TestPackageFilesHoldNoTokens(t *testing.T) {
	found, err := Scan(t.Context(), []string{"."}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Errorf("token-shaped string committed: %v", f)
	}
}
