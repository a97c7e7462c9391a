package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// LeasesOptions are leases's inputs.
type LeasesOptions struct {
	IO     *IOStreams
	Daemon DaemonFunc
	JSON   bool
	Watch  bool
	// Interval is how often --watch redraws.
	Interval time.Duration
	// Now is the clock the table's AGE and LEFT count from; nil means
	// time.Now.
	Now func() time.Time
}

func newCmdLeases(f *Factory, runF func(*LeasesOptions) error) *cobra.Command {
	opts := &LeasesOptions{IO: f.IO, Daemon: f.Daemon}
	cmd := &cobra.Command{
		Use:   "leases [--json] [--watch]",
		Short: "List live leases",
		Long: `List live leases: what each may do, the processes it lives with, and the time
left. FOLLOW says how a lease follows its job: "tree" (every process that inherits
its HFBROKER_LEASE, through background children, double forks, setsid and nohup),
"process" (the first process only) or "ttl" (no process: it lives out its TTL).
LABEL, when a lease has one, says what it is for: a Jupyter kernel started
through 'hfbroker jupyter install' shows its kernelspec and connection file.`,
		Example: `  hfbroker leases
  hfbroker leases --watch
  hfbroker leases renew l-3f2a… --ttl 24h
  hfbroker leases revoke l-3f2a…`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Watch && opts.JSON {
				return errorWithHint(ExitUsage, "pass either --json or --watch", "--watch redraws a table; it has no JSON form")
			}
			if runF != nil {
				return runF(opts)
			}
			if opts.Watch {
				return leasesWatch(cmd.Context(), opts)
			}
			return leasesRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	cmd.Flags().BoolVarP(&opts.Watch, "watch", "w", false, "redraw the list until interrupted")
	cmd.Flags().DurationVar(&opts.Interval, "interval", 2*time.Second, "with --watch, how often to redraw")
	cmd.AddCommand(newCmdLeasesRevoke(f, nil), newCmdLeasesRenew(f, nil))
	return cmd
}

// LeasesRevokeOptions are leases revoke's inputs.
type LeasesRevokeOptions struct {
	IO     *IOStreams
	Daemon DaemonFunc
	ID     string
}

func newCmdLeasesRevoke(f *Factory, runF func(*LeasesRevokeOptions) error) *cobra.Command {
	opts := &LeasesRevokeOptions{IO: f.IO, Daemon: f.Daemon}
	return &cobra.Command{
		Use:               "revoke ID",
		Short:             "End a live lease now",
		Example:           "  hfbroker leases revoke l-3f2a…",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeOneArg(completeLeases(f)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			if err := checkLeaseID(opts.ID); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return leasesRevokeRun(cmd.Context(), opts)
		},
	}
}

func leasesRevokeRun(ctx context.Context, opts *LeasesRevokeOptions) error {
	return withDaemon(ctx, opts.Daemon, func(c Daemon) error {
		if _, err := c.RevokeLease(ctx, &pb.RevokeLeaseRequest{Id: opts.ID}); err != nil {
			return err
		}
		fmt.Fprintf(opts.IO.Out, "Revoked lease %s\n", opts.ID)
		return nil
	})
}

// LeasesRenewOptions are leases renew's inputs.
type LeasesRenewOptions struct {
	IO     *IOStreams
	Daemon DaemonFunc
	ID     string
	// TTL is the new lifetime from now; 0: the lease's own again.
	TTL time.Duration
}

func newCmdLeasesRenew(f *Factory, runF func(*LeasesRenewOptions) error) *cobra.Command {
	opts := &LeasesRenewOptions{IO: f.IO, Daemon: f.Daemon}
	cmd := &cobra.Command{
		Use:   "renew ID [--ttl D]",
		Short: "Extend a live lease",
		Long: `Extend a live lease: to --ttl from now, or by its own lifetime again (a lease
until exit: to lease.max_until_exit again). An ended lease cannot be renewed.`,
		Example: "  hfbroker leases renew l-3f2a… --ttl 24h",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			if opts.TTL < 0 {
				return errorWithHint(ExitUsage, "pass a positive duration such as 24h", "--ttl must be positive")
			}
			if runF != nil {
				return runF(opts)
			}
			return leasesRenewRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().DurationVar(&opts.TTL, "ttl", 0, "new lifetime from now (default: the lease's own lifetime again)")
	return cmd
}

func leasesRenewRun(ctx context.Context, opts *LeasesRenewOptions) error {
	req := &pb.RenewLeaseRequest{Id: opts.ID}
	if opts.TTL > 0 {
		req.Ttl = durationpb.New(opts.TTL)
	}
	return withDaemon(ctx, opts.Daemon, func(c Daemon) error {
		resp, err := c.RenewLease(ctx, req)
		if err != nil {
			return err
		}
		l := resp.GetLease()
		fmt.Fprintf(opts.IO.Out, "Renewed lease %s: ends in %s (%s)\n", l.GetId(),
			time.Until(l.GetExpiresAt().AsTime()).Round(time.Second), l.GetExpiresAt().AsTime().Local().Format(time.DateTime))
		return nil
	})
}

type leaseJSON struct {
	ID          string `json:"id"`
	Profile     string `json:"profile"`
	Fingerprint string `json:"fingerprint"`
	PID         int32  `json:"pid,omitempty"`
	Executable  string `json:"executable,omitempty"`
	Repo        string `json:"repo,omitempty"`
	Access      string `json:"access,omitempty"`
	// Repos are every repo of the lease with its access; Public: a proxy
	// lease that also reads public repos.
	Repos     []repoGrantJSON `json:"repos,omitempty"`
	Public    bool            `json:"public,omitempty"`
	Purpose   string          `json:"purpose"`
	Follow    string          `json:"follow,omitempty"`
	Processes int32           `json:"processes"`
	UntilExit bool            `json:"until_exit,omitempty"`
	Label     string          `json:"label,omitempty"`
	// Forward is the restricted socket's forward the lease came through
	// (issue 15): "ssh HOST (ssh pid N, started T)" or "direct (pid N, …)".
	Forward   string    `json:"forward,omitempty"`
	GrantedAt time.Time `json:"granted_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

type repoGrantJSON struct {
	Repo   string `json:"repo"`
	Access string `json:"access"`
}

// reposText is the REPOS column: "acme/llm(w), datasets/acme/corpus(r)",
// then "public" when the lease reads public repos too; "-" for a lease
// that names none (any repo the token reaches).
func reposText(l leaseJSON) string {
	var parts []string
	for _, g := range l.Repos {
		parts = append(parts, g.Repo+"("+g.Access[:1]+")")
	}
	if len(parts) == 0 && l.Repo != "" { // an older daemon
		a := "r"
		if l.Access == "write" {
			a = "w"
		}
		parts = append(parts, l.Repo+"("+a+")")
	}
	if len(parts) == 0 {
		return "-" // any repo the token reaches
	}
	if l.Public {
		parts = append(parts, "public")
	}
	return strings.Join(parts, ", ")
}

func listLeases(ctx context.Context, c Daemon) ([]leaseJSON, error) {
	resp, err := c.ListLeases(ctx, &pb.ListLeasesRequest{})
	if err != nil {
		return nil, err
	}
	list := make([]leaseJSON, 0, len(resp.GetLeases()))
	for _, l := range resp.GetLeases() {
		list = append(list, leaseJSON{
			ID: l.GetId(), Profile: l.GetProfile(), Fingerprint: l.GetFingerprint(), PID: l.GetPid(),
			Executable: l.GetExecutable(), Repo: repoText(l.GetRepo()), Access: accessText(l.GetAccess()),
			Purpose: purposeText(l.GetPurpose()), Follow: l.GetFollow(), Processes: l.GetTreeSize(), UntilExit: l.GetUntilExit(),
			Label: l.GetLabel(), GrantedAt: l.GetGrantedAt().AsTime(), ExpiresAt: l.GetExpiresAt().AsTime(), Public: l.GetPublic(),
			Forward: forwardText(l.GetForward()),
		})
		for _, g := range l.GetRepos() {
			list[len(list)-1].Repos = append(list[len(list)-1].Repos, repoGrantJSON{Repo: repoText(g.GetRepo()), Access: cmp.Or(accessText(g.GetAccess()), "read")})
		}
	}
	return list, nil
}

func leasesRun(ctx context.Context, opts *LeasesOptions) error {
	return withDaemon(ctx, opts.Daemon, func(c Daemon) error {
		list, err := listLeases(ctx, c)
		if err != nil {
			return err
		}
		if opts.JSON {
			enc := json.NewEncoder(opts.IO.Out)
			enc.SetIndent("", "  ")
			return enc.Encode(list)
		}
		if len(list) == 0 {
			fmt.Fprintln(opts.IO.ErrOut, "No live leases.")
			return nil
		}
		return writeLeaseTable(opts.IO.Out, list, opts.now())
	})
}

func (opts *LeasesOptions) now() time.Time {
	if opts.Now != nil {
		return opts.Now()
	}
	return time.Now()
}

// leasesWatch redraws the table every interval until interrupted, as
// watch(1) would, on one connection.
func leasesWatch(ctx context.Context, opts *LeasesOptions) error {
	every := opts.Interval
	if every < 100*time.Millisecond {
		return errorWithHint(ExitUsage, "pass an interval such as 2s", "--interval must be at least 100ms")
	}
	return withDaemon(ctx, opts.Daemon, func(c Daemon) error {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			list, err := listLeases(ctx, c)
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			now := opts.now()
			fmt.Fprintf(&buf, "\x1b[H\x1b[2JLive leases at %s (every %s; Ctrl-C to stop)\n\n", now.Format(time.TimeOnly), every)
			if len(list) == 0 {
				fmt.Fprintln(&buf, "No live leases.")
			} else if err := writeLeaseTable(&buf, list, now); err != nil {
				return err
			}
			opts.IO.Out.Write(buf.Bytes())
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	})
}

// durationText says a lease's time left as a person reads it: days and
// hours past two days (a lease until exit has up to 30), else to the second.
func durationText(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%dd%dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	}
	return d.Round(time.Second).String()
}

func writeLeaseTable(w io.Writer, list []leaseJSON, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	// LABEL (what a lease is for: a Jupyter kernel and its connection
	// file) comes last, and only when a lease has one: it is long.
	labels := slices.ContainsFunc(list, func(l leaseJSON) bool { return l.Label != "" })
	head := "ID\tPROFILE\tPID\tEXECUTABLE\tREPOS\tPURPOSE\tPROCS\tFOLLOW\tAGE\tLEFT"
	if labels {
		head += "\tLABEL"
	}
	fmt.Fprintln(tw, head)
	for _, l := range list {
		label := ""
		if labels {
			label = "\t" + dash(oneLine(l.Label))
		}
		left := durationText(l.ExpiresAt.Sub(now))
		if l.UntilExit {
			left = "until exit (≤ " + left + ")"
		}
		procs := "-"
		if l.Follow == "tree" || l.Follow == "process" {
			procs = fmt.Sprint(l.Processes)
		}
		exe := dash(l.Executable)
		if l.Forward != "" {
			exe = l.Forward // the process here is ssh; where the lease went says more
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s%s\n", l.ID, l.Profile, l.PID, exe, reposText(l),
			l.Purpose, procs, dash(l.Follow), now.Sub(l.GrantedAt).Round(time.Second), left, label)
	}
	return tw.Flush()
}

func repoText(r *pb.Repo) string {
	if r == nil || r.GetId() == "" {
		return ""
	}
	switch r.GetType() {
	case pb.RepoType_REPO_TYPE_DATASET:
		return "datasets/" + r.GetId()
	case pb.RepoType_REPO_TYPE_SPACE:
		return "spaces/" + r.GetId()
	}
	return r.GetId()
}

func accessText(a pb.Access) string {
	switch a {
	case pb.Access_ACCESS_READ:
		return "read"
	case pb.Access_ACCESS_WRITE:
		return "write"
	}
	return ""
}

func purposeText(p pb.Purpose) string {
	switch p {
	case pb.Purpose_PURPOSE_EXEC:
		return "exec"
	case pb.Purpose_PURPOSE_GIT:
		return "git"
	case pb.Purpose_PURPOSE_TOKEN:
		return "token"
	case pb.Purpose_PURPOSE_PROXY:
		return "proxy"
	}
	return ""
}

// forwardText is a lease's forward as the audit log writes it.
func forwardText(f *pb.Forward) string {
	if f == nil {
		return ""
	}
	at := f.GetStartedAt().AsTime().UTC().Format(time.RFC3339)
	if f.GetHost() == "" {
		return fmt.Sprintf("direct (pid %d, started %s)", f.GetSshPid(), at)
	}
	return fmt.Sprintf("ssh %s (ssh pid %d, started %s)", f.GetHost(), f.GetSshPid(), at)
}
