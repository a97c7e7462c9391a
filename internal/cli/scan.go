package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hfbroker/hfbroker/internal/scan"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// ScanOptions are scan's inputs.
type ScanOptions struct {
	IO *IOStreams
	// RunningDaemon connects to a daemon that is already running, never
	// starting one: scan runs as a pre-commit hook.
	RunningDaemon DaemonFunc
	Paths         []string
	Redact        bool
	JSON          bool
	// Profiles returns the stored profiles' names by token fingerprint; nil
	// asks a running daemon. An error means "unknown", not failure.
	Profiles func(ctx context.Context) (map[string]string, error)
	// LeaseTokens returns the lease tokens the daemon knows by
	// fingerprint: live ones and recently ended ones; nil asks a running
	// daemon. An error means "unknown".
	LeaseTokens func(ctx context.Context) (map[string]leaseTokenInfo, error)
}

// leaseTokenInfo is what the daemon says of a lease token it issued.
type leaseTokenInfo struct {
	LeaseID string
	Label   string
	Ended   bool
}

// maxStdin bounds what scan reads from stdin, as it bounds files.
const maxStdin = 50 << 20

func newCmdScan(f *Factory, runF func(*ScanOptions) error) *cobra.Command {
	opts := &ScanOptions{IO: f.IO, RunningDaemon: f.RunningDaemon}
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

In a Python code cell, a login(token="hf_…") or notebook_login() line
becomes a comment instead: huggingface_hub's login writes the token to a
plaintext file, and a kernel started through 'hfbroker jupyter install'
already has a lease.

A lease token (what 'exec --proxy' and hfbroker kernels hand out) that the
running daemon knows has ended is reported as "lease token, ended": it is
worthless, and does not count. A live lease token, or a real token, does.

PATH "-" reads stdin; with --redact, the redacted text goes to stdout and the
report to stderr (the Jupyter save hook in packaging/jupyter/ uses this).

Exits 1 when any token is found, also after --redact: as a pre-commit hook
(see .pre-commit-hooks.yaml) that stops the commit so you can review the
rewritten files. Exits 0 when none is found.`,
		Example: `  hfbroker scan
  hfbroker scan notebooks/ --redact
  git diff --cached | hfbroker scan -`,
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
	// Lease is "live" or "ended" for a lease token the daemon issued.
	Lease   string `json:"lease,omitempty"`
	LeaseID string `json:"lease_id,omitempty"`
}

type scanJSON struct {
	Findings []scanFindingJSON `json:"findings"`
	Errors   []string          `json:"errors"`
}

func scanRun(ctx context.Context, opts *ScanOptions) error {
	roots := opts.Paths
	if len(roots) == 0 {
		roots = []string{"."}
	}
	var findings []scan.Finding
	var scanErr error
	var stdin []byte
	if slices.Contains(roots, "-") {
		if len(roots) != 1 {
			return errorWithHint(ExitUsage, "scan stdin alone: hfbroker scan -", "\"-\" (stdin) cannot be mixed with paths")
		}
		var err error
		if stdin, err = io.ReadAll(io.LimitReader(opts.IO.In, maxStdin+1)); err != nil {
			return fmt.Errorf("read stdin: %w", err)
		}
		if len(stdin) > maxStdin {
			return errorWithHint(ExitError, "", "stdin is larger than %d MiB", maxStdin>>20)
		}
		findings = scan.ScanBytes("-", stdin, true)
	} else {
		findings, scanErr = scan.Scan(ctx, roots, scan.Options{})
	}
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
			lookup = func(ctx context.Context) (map[string]string, error) { return storedProfiles(ctx, opts.RunningDaemon) }
		}
		if m, err := lookup(ctx); err == nil {
			profiles, known = m, true
		}
	}
	var leaseTokens map[string]leaseTokenInfo
	if len(findings) > 0 {
		lookup := opts.LeaseTokens
		if lookup == nil {
			lookup = func(ctx context.Context) (map[string]leaseTokenInfo, error) {
				return knownLeaseTokens(ctx, opts.RunningDaemon)
			}
		}
		leaseTokens, _ = lookup(ctx)
	}

	redacted := map[string]bool{}
	if opts.Redact && stdin != nil {
		// A filter: the redacted text goes to stdout, even when nothing
		// changed, so a save hook can always write what it gets back.
		out, err := scan.RedactBytes(stdin, findings, "", true)
		if err != nil {
			return fmt.Errorf("redact stdin: %w", err)
		}
		if _, err := opts.IO.Out.Write(out); err != nil {
			return err
		}
		redacted["-"] = true
	} else if opts.Redact {
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
		if lt, ok := leaseTokens[j.Fingerprint]; ok && fd.Kind == scan.KindHF {
			j.Lease, j.LeaseID = "live", lt.LeaseID
			if lt.Ended {
				j.Lease = "ended"
			}
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

	report := opts.IO.Out
	if stdin != nil && opts.Redact {
		report = opts.IO.ErrOut // stdout carries the redacted text
	}
	if opts.JSON {
		enc := json.NewEncoder(report)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		printScan(opts.IO, report, findings, out, known)
	}
	// An ended lease token is worthless: it does not fail the scan.
	live := 0
	for _, j := range out.Findings {
		if j.Lease != "ended" {
			live++
		}
	}
	if live > 0 || len(errs) > 0 {
		return exitCodeError{ExitError}
	}
	return nil
}

// knownLeaseTokens asks a running daemon which lease tokens it issued, by
// fingerprint, live and recently ended. Like storedProfiles, it never
// starts a daemon.
func knownLeaseTokens(ctx context.Context, connect DaemonFunc) (map[string]leaseTokenInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	resp, err := c.ListLeases(ctx, &pb.ListLeasesRequest{IncludeEnded: true})
	if err != nil {
		return nil, err
	}
	m := map[string]leaseTokenInfo{}
	for _, e := range resp.GetEnded() {
		m[e.GetFingerprint()] = leaseTokenInfo{LeaseID: e.GetLeaseId(), Label: e.GetLabel(), Ended: true}
	}
	for _, l := range resp.GetLeases() {
		if fp := l.GetTokenFingerprint(); fp != "" {
			m[fp] = leaseTokenInfo{LeaseID: l.GetId(), Label: l.GetLabel()}
		}
	}
	return m, nil
}

func printScan(ios *IOStreams, w io.Writer, findings []scan.Finding, out scanJSON, known bool) {
	var paths []string
	count := map[string]int{}
	redacted := map[string]bool{}
	ended := 0
	for i, fd := range findings {
		j := out.Findings[i]
		owner := "stored profile unknown"
		switch {
		case j.Lease == "ended":
			owner = "lease token, ended (lease " + j.LeaseID + "): worthless now"
			ended++
		case j.Lease == "live":
			owner = "lease token, live (lease " + j.LeaseID + "): it works until the lease ends"
		case j.Stored != nil && *j.Stored:
			owner = fmt.Sprintf("same token as profile %q", j.Profile)
		case j.Stored != nil:
			owner = "not a stored profile"
		}
		fmt.Fprintf(w, "%s; %s\n", fd, owner)
		if count[fd.Path] == 0 {
			paths = append(paths, fd.Path)
		}
		count[fd.Path]++
		redacted[fd.Path] = j.Redacted
	}
	left := 0
	for _, p := range paths {
		if redacted[p] {
			fmt.Fprintf(w, "redacted %s in %s\n", plural(count[p], "token", "tokens"), p)
		} else {
			left++
		}
	}
	for _, e := range out.Errors {
		fmt.Fprintf(ios.ErrOut, "hfbroker: error: %s\n", e)
	}
	if len(findings) == 0 {
		if len(out.Errors) == 0 {
			fmt.Fprintln(ios.ErrOut, "no Hugging Face tokens found")
		}
		return
	}
	if !known {
		fmt.Fprintln(ios.ErrOut, "hfbroker: note: hfbrokerd is not running, so the tokens could not be matched to stored profiles")
	}
	if ended == len(findings) {
		return // only worthless lease tokens: nothing to do
	}
	if left > 0 {
		fmt.Fprintln(ios.ErrOut, "hfbroker: hint: remove them with 'hfbroker scan --redact PATH…', and revoke on the Hub any token that was committed or shared")
	} else {
		fmt.Fprintln(ios.ErrOut, "hfbroker: hint: review the rewritten files, and revoke on the Hub any token that was committed or shared")
	}
}

// storedProfiles asks a running daemon for its profiles by fingerprint. It
// never starts one: scan runs as a pre-commit hook, which should not leave a
// daemon behind or wait for one.
func storedProfiles(ctx context.Context, connect DaemonFunc) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := connect(ctx)
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
