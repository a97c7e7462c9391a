package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hfbroker/hfbroker/internal/client"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

func init() { extraCommands = append(extraCommands, newCmdLeases) }

func newCmdLeases(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "leases [--json]",
		Short: "List live leases",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return leasesRun(cmd.Context(), f, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(&cobra.Command{
		Use:               "revoke ID",
		Short:             "End a live lease now",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeOneArg(completeLeases(f)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withClient(cmd.Context(), f, func(c *client.Client) error {
				if _, err := c.RevokeLease(cmd.Context(), &pb.RevokeLeaseRequest{Id: args[0]}); err != nil {
					return err
				}
				fmt.Fprintf(f.IO.Out, "Revoked lease %s\n", args[0])
				return nil
			})
		},
	})
	return cmd
}

type leaseJSON struct {
	ID          string    `json:"id"`
	Profile     string    `json:"profile"`
	Fingerprint string    `json:"fingerprint"`
	PID         int32     `json:"pid,omitempty"`
	Executable  string    `json:"executable,omitempty"`
	Repo        string    `json:"repo,omitempty"`
	Access      string    `json:"access,omitempty"`
	Purpose     string    `json:"purpose"`
	GrantedAt   time.Time `json:"granted_at"`
	ExpiresAt   time.Time `json:"expires_at"`
}

func leasesRun(ctx context.Context, f *Factory, asJSON bool) error {
	return withClient(ctx, f, func(c *client.Client) error {
		resp, err := c.ListLeases(ctx, &pb.ListLeasesRequest{})
		if err != nil {
			return err
		}
		list := make([]leaseJSON, 0, len(resp.GetLeases()))
		for _, l := range resp.GetLeases() {
			list = append(list, leaseJSON{
				ID: l.GetId(), Profile: l.GetProfile(), Fingerprint: l.GetFingerprint(), PID: l.GetPid(),
				Executable: l.GetExecutable(), Repo: repoText(l.GetRepo()), Access: accessText(l.GetAccess()),
				Purpose: purposeText(l.GetPurpose()), GrantedAt: l.GetGrantedAt().AsTime(), ExpiresAt: l.GetExpiresAt().AsTime(),
			})
		}
		if asJSON {
			enc := json.NewEncoder(f.IO.Out)
			enc.SetIndent("", "  ")
			return enc.Encode(list)
		}
		if len(list) == 0 {
			fmt.Fprintln(f.IO.ErrOut, "No live leases.")
			return nil
		}
		now := time.Now()
		tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPROFILE\tPID\tEXECUTABLE\tREPO\tPURPOSE\tAGE\tEXPIRES IN")
		for _, l := range list {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", l.ID, l.Profile, l.PID, dash(l.Executable), dash(l.Repo),
				l.Purpose, now.Sub(l.GrantedAt).Round(time.Second), l.ExpiresAt.Sub(now).Round(time.Second))
		}
		return tw.Flush()
	})
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
