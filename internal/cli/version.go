package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hfbroker/hfbroker/internal/buildinfo"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// VersionOptions are version's inputs.
type VersionOptions struct {
	IO   *IOStreams
	JSON bool
}

func newCmdVersion(f *Factory, runF func(*VersionOptions) error) *cobra.Command {
	opts := &VersionOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "version [--json]",
		Short: "Print hfbroker's version, VCS revision, Go version and platform",
		Long: "Print hfbroker's version, the VCS revision it was built from (and whether the tree\n" +
			"was modified), the Go version and the platform. It does not ask the daemon: 'hfbroker\n" +
			"status' shows the daemon's version too.",
		Example: `  hfbroker version
  hfbroker version --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return versionRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

func versionRun(opts *VersionOptions) error {
	info := buildinfo.Read()
	if opts.JSON {
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	_, err := fmt.Fprintln(opts.IO.Out, "hfbroker version", info)
	return err
}

func daemonBuild(s *pb.StatusResponse) buildinfo.Info {
	b := s.GetBuild()
	if b == nil {
		return buildinfo.Info{Version: s.GetVersion()}
	}
	return buildinfo.Info{Version: b.GetVersion(), Revision: b.GetRevision(), Modified: b.GetModified(), GoVersion: b.GetGoVersion(), Platform: b.GetPlatform()}
}

// versionSkew says, in a sentence a person can act on, that the running
// daemon is a different build from this CLI (typically after an upgrade
// that replaced the binaries but left the old daemon running), or "" when
// they are the same build.
func versionSkew(cliB, daemonB buildinfo.Info, pid int32) string {
	restart := fmt.Sprintf("restart it with 'hfbrokerd restart' (a user service), or 'kill %d' and the next hfbroker command starts the new one", pid)
	if c, ok := buildinfo.Compare(daemonB.Version, cliB.Version); ok {
		switch {
		case c < 0:
			return fmt.Sprintf("the daemon (%s) is older than this CLI (%s): %s", daemonB.Version, cliB.Version, restart)
		case c > 0:
			return fmt.Sprintf("the daemon (%s) is newer than this CLI (%s): upgrade the hfbroker CLI, or %s", daemonB.Version, cliB.Version, restart)
		}
	} else if daemonB.Version != cliB.Version {
		return fmt.Sprintf("the daemon (%s) is a different build from this CLI (%s): %s", daemonB.Version, cliB.Version, restart)
	}
	if cliB.Revision != "" && daemonB.Revision != "" && cliB.Revision != daemonB.Revision {
		return fmt.Sprintf("the daemon (revision %.12s) is a different build from this CLI (revision %.12s): %s", daemonB.Revision, cliB.Revision, restart)
	}
	return ""
}
