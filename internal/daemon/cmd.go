package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hfbroker/hfbroker/internal/buildinfo"
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
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(stdout, "hfbrokerd version", buildinfo.Read()) },
	})
	addServiceCommands(root, stdout, stderr)
	return root
}

func runForeground(cmd *cobra.Command, stderr io.Writer) error {
	level := slog.LevelInfo
	if strings.EqualFold(os.Getenv("HFBROKER_LOG"), "debug") {
		level = slog.LevelDebug
	}
	out := stderr
	if stderr == io.Writer(os.Stderr) {
		if w := daemonLogFor(os.Getenv, os.Stderr); w != nil {
			defer w.Close()
			out = w
		}
	}
	log := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: level}))
	setMemoryLimit(os.Getenv)
	ctx, stop := signalContext()
	defer stop()
	return Run(ctx, Options{Logger: log, procs: newProcs(os.Getenv, setRuntimeProcs)})
}

// DefaultMemoryLimit is the daemon's soft memory limit (runtime/debug's
// SetMemoryLimit) unless GOMEMLIMIT sets one. Idle, the daemon needs about
// 12 MiB; under a burst of leases the garbage collector would otherwise let
// the heap grow to twice what is live before collecting. With the limit it
// collects sooner instead: 100,000 leases from 256 clients peak at about
// 45 MiB rather than 54 MiB, at the same throughput (docs/BENCHMARKS.md).
// The limit is soft: a daemon that truly holds more keeps working.
const DefaultMemoryLimit = 40 << 20

// setMemoryLimit applies DefaultMemoryLimit unless the environment sets
// GOMEMLIMIT (which the runtime has applied already).
func setMemoryLimit(env func(string) string) {
	if env("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(DefaultMemoryLimit)
	}
}

// Command is hfbrokerd's command tree, for tools that document it (man
// pages, internal/tools/gendocs).
func Command(stdout, stderr io.Writer) *cobra.Command { return newRootCmd(stdout, stderr) }
