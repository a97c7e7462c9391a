package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// LockOptions are lock's inputs.
type LockOptions struct {
	IO     *IOStreams
	Daemon DaemonFunc
}

func newCmdLock(f *Factory, runF func(*LockOptions) error) *cobra.Command {
	opts := &LockOptions{IO: f.IO, Daemon: f.Daemon}
	return &cobra.Command{
		Use:     "lock",
		Short:   "Forget every token held in memory and end every lease",
		Example: "  hfbroker lock",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return lockRun(cmd.Context(), opts)
		},
	}
}

func lockRun(ctx context.Context, opts *LockOptions) error {
	return withDaemon(ctx, opts.Daemon, func(c Daemon) error {
		resp, err := c.Lock(ctx, &pb.LockRequest{})
		if err != nil {
			return err
		}
		fmt.Fprintf(opts.IO.Out, "Locked; ended %d lease(s)\n", resp.GetEndedLeases())
		return nil
	})
}
