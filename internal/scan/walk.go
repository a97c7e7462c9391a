package scan

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hfbroker/hfbroker/internal/secret"
)

// DefaultMaxSize is the largest file Scan reads when Options.MaxSize is 0.
const DefaultMaxSize = 50 << 20

// binarySniffLen is how much of a file is checked for a NUL byte, the test
// git and grep use to call a file binary.
const binarySniffLen = 8 << 10

// Why Scan passed over a path.
const (
	SkipGitDir   = "git directory"
	SkipSymlink  = "symlink (not followed)"
	SkipTooLarge = "larger than the size limit"
	SkipBinary   = "binary (NUL byte in the first 8 KiB)"
	SkipSpecial  = "not a regular file"
)

// Options tunes Scan.
type Options struct {
	// MaxSize skips files larger than this many bytes; 0 means
	// DefaultMaxSize.
	MaxSize int64
	// Skipped, when set, hears about every path Scan passes over and why.
	Skipped func(path, reason string)
}

// Finding is one token Scan found in a file.
type Finding struct {
	Path   string
	Line   int // 1-based line in the file
	Col    int // 1-based byte column in the file
	Offset int // byte offset of the token in the file
	Token  secret.Token
	Kind   string
	// Notebook is set for tokens in a .ipynb file that parsed as JSON.
	Notebook *NotebookLocation
}

// String renders "path:line:col: kind token hf_…abcd (cell 2 output)", the
// token masked.
func (f Finding) String() string {
	s := fmt.Sprintf("%s:%d:%d: %s token %s", f.Path, f.Line, f.Col, f.Kind, f.Token)
	if f.Notebook != nil {
		s += " (" + f.Notebook.String() + ")"
	}
	return s
}

// Scan looks for tokens under roots: files are scanned, directories walked
// in lexical order. It skips .git directories, symlinks (never followed, not
// even as a root), special files, files over MaxSize and binary files.
// Findings are sorted by path, then offset, whatever the order of roots.
//
// A root or file that cannot be read does not stop the scan: its error is
// joined into the returned error and the findings from everything else are
// still returned. Only cancellation of ctx ends the scan early.
func Scan(ctx context.Context, roots []string, opts Options) ([]Finding, error) {
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultMaxSize
	}
	skip := func(path, reason string) {
		if opts.Skipped != nil {
			opts.Skipped(path, reason)
		}
	}
	var (
		findings []Finding
		errs     []error
		seen     = map[string]bool{}
	)
	scanOne := func(path string) {
		clean := filepath.Clean(path)
		if seen[clean] {
			return
		}
		seen[clean] = true
		found, reason, err := scanFile(path, opts.MaxSize)
		switch {
		case err != nil:
			errs = append(errs, err)
		case reason != "":
			skip(path, reason)
		default:
			findings = append(findings, found...)
		}
	}
	for _, root := range roots {
		if err := ctx.Err(); err != nil {
			return sortFindings(findings), err
		}
		info, err := os.Lstat(root)
		if err != nil {
			errs = append(errs, fmt.Errorf("scan %s: %w", root, err))
			continue
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			skip(root, SkipSymlink)
			continue
		case !info.IsDir():
			scanOne(root)
			continue
		case info.Name() == ".git":
			skip(root, SkipGitDir)
			continue
		}
		err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("scan %s: %w", path, err))
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			switch {
			case d.Type()&fs.ModeSymlink != 0:
				skip(path, SkipSymlink)
			case d.IsDir() && d.Name() == ".git" && path != root:
				skip(path, SkipGitDir)
				return fs.SkipDir
			case d.IsDir():
			case d.Name() == ".git":
				// A worktree or submodule's .git file: a pointer, not content.
				skip(path, SkipGitDir)
			default:
				scanOne(path)
			}
			return nil
		})
		if err != nil {
			if ctx.Err() != nil {
				return sortFindings(findings), ctx.Err()
			}
			errs = append(errs, err)
		}
	}
	return sortFindings(findings), errors.Join(errs...)
}

func sortFindings(found []Finding) []Finding {
	slices.SortStableFunc(found, func(a, b Finding) int {
		return cmp.Or(strings.Compare(a.Path, b.Path), cmp.Compare(a.Offset, b.Offset))
	})
	return found
}

// scanFile reads one path and returns its findings, or why it was skipped.
func scanFile(path string, maxSize int64) ([]Finding, string, error) {
	data, reason, err := readCandidate(path, maxSize)
	if err != nil || reason != "" {
		return nil, reason, err
	}
	return findInFile(path, data), "", nil
}

// readCandidate opens path without following a symlink swapped in after the
// walk saw it, and applies the size and binary rules.
func readCandidate(path string, maxSize int64) ([]byte, string, error) {
	before, err := os.Lstat(path)
	if err != nil {
		return nil, "", fmt.Errorf("scan %s: %w", path, err)
	}
	switch {
	case before.Mode()&fs.ModeSymlink != 0:
		return nil, SkipSymlink, nil
	case !before.Mode().IsRegular():
		// A FIFO would block the read forever; devices are not source.
		return nil, SkipSpecial, nil
	case before.Size() > maxSize:
		return nil, SkipTooLarge, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("scan %s: %w", path, err)
	}
	defer f.Close()
	after, err := f.Stat()
	if err != nil {
		return nil, "", fmt.Errorf("scan %s: %w", path, err)
	}
	if !os.SameFile(before, after) {
		return nil, SkipSymlink, nil
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, "", fmt.Errorf("scan %s: %w", path, err)
	}
	if int64(len(data)) > maxSize {
		return nil, SkipTooLarge, nil
	}
	if bytes.IndexByte(data[:min(len(data), binarySniffLen)], 0) >= 0 {
		return nil, SkipBinary, nil
	}
	return data, "", nil
}

// isNotebook says whether a path is scanned as a Jupyter notebook.
func isNotebook(path string) bool {
	return strings.EqualFold(filepath.Ext(path), ".ipynb")
}

// findInFile finds tokens in a file's contents. Notebooks that parse as JSON
// are walked string by string so escapes such as "\n" before a token do not
// hide it and each finding knows its cell; anything else is scanned as text.
func findInFile(path string, data []byte) []Finding {
	return ScanBytes(path, data, isNotebook(path))
}

// ScanBytes finds tokens in data read from name (stdin, say), as Scan finds
// them in a file; asNotebook parses data as a notebook, falling back to
// text when it is not JSON.
func ScanBytes(name string, data []byte, asNotebook bool) []Finding {
	path := name
	var out []Finding
	if asNotebook {
		if nb, ok := parseNotebook(data); ok {
			for _, m := range nb.matches(data) {
				loc := m.loc
				out = append(out, Finding{
					Path: path, Line: m.Line, Col: m.Col, Offset: m.Offset,
					Token: m.Token, Kind: m.Kind, Notebook: &loc,
				})
			}
			return out
		}
	}
	for _, m := range Find(data) {
		out = append(out, Finding{
			Path: path, Line: m.Line, Col: m.Col, Offset: m.Offset,
			Token: m.Token, Kind: m.Kind,
		})
	}
	return out
}
