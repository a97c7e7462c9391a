package cli

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hfbroker/hfbroker/internal/audit"
	"github.com/hfbroker/hfbroker/internal/config"
)

func init() { extraCommands = append(extraCommands, newCmdAudit) }

func newCmdAudit(f *Factory) *cobra.Command {
	var since time.Duration
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "audit [--since D] [--json]",
		Short: "Show the audit log: tokens added and removed, leases granted, denied and ended",
		Long: `Show the audit log ($XDG_STATE_HOME/hfbroker/audit.jsonl): one event per token
added or removed, lease granted, denied or ended, git store or erase, and proxy
request, with the profile, token fingerprint, repo, pid and executable. It never
holds a token.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			paths, err := config.ResolvePaths(f.Env)
			if err != nil {
				return err
			}
			var from time.Time
			if since > 0 {
				from = time.Now().Add(-since)
			}
			evs, err := audit.Read(paths.AuditFile(), from)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(f.IO.Out)
				for _, ev := range evs {
					if err := enc.Encode(ev); err != nil {
						return err
					}
				}
				return nil
			}
			if len(evs) == 0 {
				fmt.Fprintln(f.IO.ErrOut, "No audit events.")
				return nil
			}
			tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
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
		},
	}
	cmd.Flags().DurationVar(&since, "since", 0, "only events newer than this, e.g. 1h")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON lines")
	return cmd
}
