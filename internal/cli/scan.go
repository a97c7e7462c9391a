package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hfbroker/hfbroker/internal/client"
	"github.com/hfbroker/hfbroker/internal/scan"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

func init() { extraCommands = append(extraCommands, newCmdScanDefault) }

// ScanOptions are scan's inputs.
type ScanOptions struct {
	Factory *Factory
	Paths   []string
	Redact  bool
	JSON    bool
	// Profiles returns the stored profiles' names by token fingerprint; nil
	// asks a running daemon. An error means "unknown", not failure.
	Profiles func(ctx context.Context) (map[string]string, error)
}

func newCmdScanDefault(f *Factory) *cobra.Command { return newCmdScan(f, nil) }

func newCmdScan(f *Factory, runF func(*ScanOptions) error) *cobra.Command {
	opts := &ScanOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "scan [PATH…] [--redact] [--json]",
		Short: "Find Hugging Face tokens in files and notebooks",
		Long: `Walk files and directories (default: the current directory) and report every
Hugging Face token found: path:line:column, the token masked (hf_…abcd), and
whether it is the token of a stored profile. In Jupyter notebooks it also
names the cell and whether the token is in the cell's source or its output.
.git directories, symlinks, binary files and files over 50 MiB are skipped.

scan never starts hfbrokerd: when it is not running, whether a token belongs
to a profile is shown as unknown.

With --redact, each file is rewritten in place, atomically, with every token
replaced by hf_REDACTED. Notebooks stay valid JSON with their cells; in a
Python code cell, a string literal that is exactly a token becomes
os.environ["HF_TOKEN"] (run it with 'hfbroker exec'). Redacting does not make
a token safe again if it was ever committed or shared: revoke it on the Hub.

Exits 1 when any token is found, also after --redact: as a pre-commit hook
(see .pre-commit-hooks.yaml) that stops the commit so you can review the
rewritten files. Exits 0 when none is found.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Paths = args
			if runF != nil {
				return runF(opts)
			}
			return scanRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Redact, "redact", false, "replace each token in place with a placeholder")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// scanFindingJSON is one finding in scan --json. The token itself is never
// included.
type scanFindingJSON struct {
	Path        string `json:"path"`
	Line        int    `json:"line"`
	Column      int    `json:"column"`
	Kind        string `json:"kind"`
	Token       string `json:"token"` // masked: hf_…abcd
	Fingerprint string `json:"fingerprint"`
	// Stored is null when the daemon was not running to say.
	Stored   *bool  `json:"stored"`
	Profile  string `json:"profile,omitempty"`
	Cell     *int   `json:"cell,omitempty"`
	Where    string `json:"where,omitempty"` // in a notebook: source, output or metadata
	Redacted bool   `json:"redacted"`
}

type scanJSON struct {
	Findings []scanFindingJSON `json:"findings"`
	Errors   []string          `json:"errors"`
}

func scanRun(ctx context.Context, opts *ScanOptions) error {
	f := opts.Factory
	roots := opts.Paths
	if len(roots) == 0 {
		roots = []string{"."}
	}
	findings, scanErr := scan.Scan(ctx, roots, scan.Options{})
	var errs []string
	if scanErr != nil {
		for _, line := range strings.Split(scanErr.Error(), "\n") {
			errs = append(errs, oneLine(line))
		}
	}

	var profiles map[string]string
	known := false
	if len(findings) > 0 {
		lookup := opts.Profiles
		if lookup == nil {
			lookup = func(ctx context.Context) (map[string]string, error) { return storedProfiles(ctx, f) }
		}
		if m, err := lookup(ctx); err == nil {
			profiles, known = m, true
		}
	}

	redacted := map[string]bool{}
	if opts.Redact {
		byPath := map[string][]scan.Finding{}
		var order []string
		for _, fd := range findings {
			if byPath[fd.Path] == nil {
				order = append(order, fd.Path)
			}
			byPath[fd.Path] = append(byPath[fd.Path], fd)
		}
		for _, p := range order {
			if err := scan.Redact(p, byPath[p], ""); err != nil {
				errs = append(errs, oneLine(err.Error()))
				continue
			}
			redacted[p] = true
		}
	}

	out := scanJSON{Findings: []scanFindingJSON{}, Errors: []string{}}
	out.Errors = append(out.Errors, errs...)
	for _, fd := range findings {
		j := scanFindingJSON{Path: fd.Path, Line: fd.Line, Column: fd.Col, Kind: fd.Kind, Token: fd.Token.String(),
			Fingerprint: fd.Token.Fingerprint(), Redacted: redacted[fd.Path]}
		if known {
			name, ok := profiles[j.Fingerprint]
			j.Stored, j.Profile = &ok, name
		}
		if fd.Notebook != nil {
			cell := fd.Notebook.Cell
			if cell >= 0 {
				j.Cell = &cell
			}
			j.Where = fd.Notebook.Where
		}
		out.Findings = append(out.Findings, j)
	}

	if opts.JSON {
		enc := json.NewEncoder(f.IO.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		printScan(f, findings, out, known)
	}
	if len(findings) > 0 || len(errs) > 0 {
		return exitCodeError{ExitError}
	}
	return nil
}

func printScan(f *Factory, findings []scan.Finding, out scanJSON, known bool) {
	var paths []string
	count := map[string]int{}
	redacted := map[string]bool{}
	for i, fd := range findings {
		j := out.Findings[i]
		owner := "stored profile unknown"
		switch {
		case j.Stored != nil && *j.Stored:
			owner = fmt.Sprintf("same token as profile %q", j.Profile)
		case j.Stored != nil:
			owner = "not a stored profile"
		}
		fmt.Fprintf(f.IO.Out, "%s; %s\n", fd, owner)
		if count[fd.Path] == 0 {
			paths = append(paths, fd.Path)
		}
		count[fd.Path]++
		redacted[fd.Path] = j.Redacted
	}
	left := 0
	for _, p := range paths {
		if redacted[p] {
			fmt.Fprintf(f.IO.Out, "redacted %s in %s\n", plural(count[p], "token", "tokens"), p)
		} else {
			left++
		}
	}
	for _, e := range out.Errors {
		fmt.Fprintf(f.IO.ErrOut, "hfbroker: error: %s\n", e)
	}
	if len(findings) == 0 {
		if len(out.Errors) == 0 {
			fmt.Fprintln(f.IO.ErrOut, "no Hugging Face tokens found")
		}
		return
	}
	if !known {
		fmt.Fprintln(f.IO.ErrOut, "hfbroker: note: hfbrokerd is not running, so the tokens could not be matched to stored profiles")
	}
	if left > 0 {
		fmt.Fprintln(f.IO.ErrOut, "hfbroker: hint: remove them with 'hfbroker scan --redact PATH…', and revoke on the Hub any token that was committed or shared")
	} else {
		fmt.Fprintln(f.IO.ErrOut, "hfbroker: hint: review the rewritten files, and revoke on the Hub any token that was committed or shared")
	}
}

// storedProfiles asks a running daemon for its profiles by fingerprint. It
// never starts one: scan runs as a pre-commit hook, which should not leave a
// daemon behind or wait for one.
func storedProfiles(ctx context.Context, f *Factory) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{Env: f.Env, NoAutostart: true})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	list, err := c.ListProfiles(ctx, &pb.ListProfilesRequest{})
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, p := range list.GetProfiles() {
		m[p.GetFingerprint()] = p.GetName()
	}
	return m, nil
}
