package cli

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hfbroker/hfbroker/internal/audit"
	"github.com/hfbroker/hfbroker/internal/config"
)

// AuditOptions are audit's inputs.
type AuditOptions struct {
	IO *IOStreams
	// Env is the environment, which says where the audit log is.
	Env     config.Env
	Since   string
	Until   string
	Profile string
	Repo    string
	JSON    bool
	// Now is the clock --since and --until count back from; nil means
	// time.Now.
	Now func() time.Time
}

func newCmdAudit(f *Factory, runF func(*AuditOptions) error) *cobra.Command {
	opts := &AuditOptions{IO: f.IO, Env: f.Env}
	cmd := &cobra.Command{
		Use:   "audit [--since T] [--until T] [--profile NAME] [--repo [TYPE/]NS/NAME] [--json]",
		Short: "Show the audit log: tokens added and removed, leases granted, denied and ended",
		Long: `Show the audit log ($XDG_STATE_HOME/hfbroker/audit.jsonl): one event per token
added or removed, lease granted, denied or ended, git store or erase, and proxy
request, with the profile, token fingerprint, repo, pid and executable. It never
holds a token.

--since and --until take a time: a duration back from now (90m, 1h30m), days
back from now (7d = 7×24h), yesterday or today (the start of that local day),
a date (2026-12-01, local midnight) or an RFC 3339 time (2026-12-01T15:04:05Z).
--since is inclusive, --until exclusive.`,
		Example: `  hfbroker audit --since 1h
  hfbroker audit --since yesterday --profile acme-ci
  hfbroker audit --repo datasets/acme/corpus --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, name := range []string{"since", "until"} {
				// `--since "$T"` with T unset must not mean "all time".
				if cmd.Flags().Changed(name) && cmd.Flags().Lookup(name).Value.String() == "" {
					return errorWithHint(ExitUsage, auditTimeForms, "--%s is empty", name)
				}
			}
			if runF != nil {
				return runF(opts)
			}
			return auditRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Since, "since", "", "only events at or after this time, e.g. 1h, 7d, yesterday, 2026-12-01T09:00:00Z")
	cmd.Flags().StringVar(&opts.Until, "until", "", "only events before this time (same forms as --since)")
	cmd.Flags().Var(nonEmpty{&opts.Profile}, "profile", "only events of this profile")
	cmd.Flags().Var(nonEmpty{&opts.Repo}, "repo", "only events for this repo: NS/NAME, datasets/NS/NAME or spaces/NS/NAME")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON lines")
	return cmd
}

// auditTimeForms is the hint for a --since or --until that does not parse.
const auditTimeForms = "use a duration (90m, 1h), days (7d), yesterday, today, a date (2026-12-01) or an RFC 3339 time (2026-12-01T15:04:05Z)"

// maxAuditDays keeps N×24h inside time.Duration.
const maxAuditDays = 100000

// parseAuditTime reads a --since or --until value relative to now: a Go
// duration or Nd (N×24h) back from now, yesterday or today (the start of
// that day in now's location), a date (midnight there) or an RFC 3339
// time. "" is the zero time: no bound.
func parseAuditTime(s string, now time.Time) (time.Time, error) {
	switch s {
	case "":
		return time.Time{}, nil
	case "today", "yesterday":
		y, m, d := now.Date()
		if s == "yesterday" {
			d--
		}
		return time.Date(y, m, d, 0, 0, 0, 0, now.Location()), nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok && n != "" && strings.Trim(n, "0123456789") == "" {
		days, err := strconv.Atoi(n)
		if err != nil || days > maxAuditDays {
			return time.Time{}, fmt.Errorf("%q is too many days back", clipArg(s))
		}
		return now.Add(-time.Duration(days) * 24 * time.Hour), nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("%q is negative; give how far back to look, e.g. 1h", clipArg(s))
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, now.Location()); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time", clipArg(s))
}

// auditFilter turns the options into a filter, or a usage error.
func auditFilter(opts *AuditOptions) (audit.Filter, error) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	t := now()
	var f audit.Filter
	var err error
	if f.Since, err = parseAuditTime(opts.Since, t); err != nil {
		return f, errorWithHint(ExitUsage, auditTimeForms, "--since %v", err)
	}
	if f.Until, err = parseAuditTime(opts.Until, t); err != nil {
		return f, errorWithHint(ExitUsage, auditTimeForms, "--until %v", err)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, errorWithHint(ExitUsage, "give an --until later than --since",
			"--until %s is not after --since %s", f.Until.Format(time.RFC3339), f.Since.Format(time.RFC3339))
	}
	if opts.Profile != "" {
		if err := checkProfileArg(opts.Profile); err != nil {
			return f, err
		}
	}
	f.Profile = opts.Profile
	if opts.Repo != "" {
		ref, err := parseRepoArg("--repo", opts.Repo, "")
		if err != nil {
			return f, err
		}
		f.Repo = ref.String() // as the broker writes it
	}
	return f, nil
}

func auditRun(opts *AuditOptions) error {
	filter, err := auditFilter(opts)
	if err != nil {
		return err
	}
	paths, err := config.ResolvePaths(opts.Env)
	if err != nil {
		return err
	}
	evs, err := audit.ReadMatching(paths.AuditFile(), filter)
	if err != nil {
		return err
	}
	if opts.JSON {
		enc := json.NewEncoder(opts.IO.Out)
		for _, ev := range evs {
			if err := enc.Encode(ev); err != nil {
				return err
			}
		}
		return nil
	}
	if len(evs) == 0 {
		fmt.Fprintln(opts.IO.ErrOut, "No audit events.")
		return nil
	}
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tEVENT\tPROFILE\tREPO\tPURPOSE\tPID\tEXECUTABLE\tDETAIL")
	for _, ev := range evs {
		detail := ev.Reason
		if ev.Cause != "" {
			detail = ev.Cause
		}
		if ev.Method != "" {
			detail = fmt.Sprintf("%s %s -> %d (%d bytes)", ev.Method, ev.Path, ev.Status, ev.Bytes)
		}
		if ev.LeaseID != "" {
			detail = ev.LeaseID + " " + detail
		}
		pid := "-"
		if ev.PID != 0 {
			pid = fmt.Sprint(ev.PID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.Time.Local().Format("2006-01-02 15:04:05"), ev.Event,
			dash(ev.Profile), dash(ev.Repo), dash(ev.Purpose), pid, dash(ev.Exe), oneLine(detail))
	}
	return tw.Flush()
}
