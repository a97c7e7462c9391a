package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "hfbrokerd",
		Short:         "The hfbroker daemon: keeps Hugging Face tokens and serves leases on a unix socket",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE:          func(cmd *cobra.Command, _ []string) error { return runForeground(cmd, stderr) },
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(&cobra.Command{
		Use:   "run",
		Short: "Serve in the foreground (the default)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runForeground(cmd, stderr) },
	})
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(stdout, "hfbrokerd", Version) },
	})
	addServiceCommands(root, stdout, stderr)
	return root
}

func runForeground(cmd *cobra.Command, stderr io.Writer) error {
	level := slog.LevelInfo
	if strings.EqualFold(os.Getenv("HFBROKER_LOG"), "debug") {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signalContext()
	defer stop()
	return Run(ctx, Options{Logger: log})
}
