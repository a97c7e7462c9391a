package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hfbroker/hfbroker/internal/buildinfo"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// StatusOptions are status's inputs.
type StatusOptions struct {
	IO     *IOStreams
	Daemon DaemonFunc
	JSON   bool
}

func newCmdStatus(f *Factory, runF func(*StatusOptions) error) *cobra.Command {
	opts := &StatusOptions{IO: f.IO, Daemon: f.Daemon}
	cmd := &cobra.Command{
		Use:   "status [--json]",
		Short: "Show the daemon's pid, socket, token store and counts",
		Example: `  hfbroker status
  hfbroker status --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return statusRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

func statusRun(ctx context.Context, opts *StatusOptions) error {
	return withDaemon(ctx, opts.Daemon, func(c Daemon) error {
		s, err := c.Status(ctx, &pb.StatusRequest{})
		if err != nil {
			return err
		}
		out := opts.IO.Out
		uptime := time.Since(s.GetStartedAt().AsTime()).Round(time.Second)
		if fw := s.GetForward(); fw != nil {
			// Through the restricted socket (issue 15): what this forward allows.
			return forwardStatus(out, s, fw, uptime, opts.JSON)
		}
		cliB, daemonB := buildinfo.Read(), daemonBuild(s)
		skew := versionSkew(cliB, daemonB, s.GetPid())
		if opts.JSON {
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			return enc.Encode(map[string]any{
				"pid": s.GetPid(), "socket": s.GetSocket(), "backend": s.GetBackend(), "backend_reason": s.GetBackendReason(),
				"profiles": s.GetProfileCount(), "default_profile": s.GetDefaultProfile(), "leases": s.GetLeaseCount(),
				"locked": s.GetLocked(), "vault_exists": s.GetVaultExists(), "vault_path": s.GetVaultPath(), "version": s.GetVersion(), "started_at": s.GetStartedAt().AsTime(),
				"uptime_seconds": int64(uptime.Seconds()),
				"config": map[string]any{"path": s.GetConfigPath(), "loaded_at": s.GetConfigLoadedAt().AsTime(),
					"sha256": s.GetConfigHash(), "error": s.GetConfigError()},
				"daemon_build": daemonB, "cli_build": cliB, "version_skew": skew,
			})
		}
		fmt.Fprintf(out, "hfbrokerd %s, pid %d, up %s\n", s.GetVersion(), s.GetPid(), uptime)
		fmt.Fprintf(out, "socket:   %s\n", s.GetSocket())
		backend := s.GetBackend()
		switch {
		case s.GetBackend() == "file" && !s.GetVaultExists():
			backend += " (no vault yet: run 'hfbroker login' to create it)"
		case s.GetLocked():
			backend += " (locked: run 'hfbroker unlock')"
		}
		fmt.Fprintf(out, "backend:  %s — %s\n", backend, s.GetBackendReason())
		fmt.Fprintf(out, "profiles: %d (default: %s)\n", s.GetProfileCount(), dash(s.GetDefaultProfile()))
		fmt.Fprintf(out, "leases:   %d live\n", s.GetLeaseCount())
		if p := s.GetConfigPath(); p != "" {
			fmt.Fprintf(out, "config:   %s\n", configText(s))
		}
		fmt.Fprintf(out, "daemon:   %s\n", daemonB)
		fmt.Fprintf(out, "cli:      %s\n", cliB)
		if skew != "" {
			fmt.Fprintf(opts.IO.ErrOut, "hfbroker: warning: %s\n", skew)
		}
		return nil
	})
}

// configText says which config.toml is in force: its path, when it was
// read and a short hash of its text; and, when the file on disk no longer
// loads, why, since the last good config then stays in force.
func configText(s *pb.StatusResponse) string {
	at := s.GetConfigLoadedAt().AsTime().Local().Format("2006-01-02 15:04:05")
	t := fmt.Sprintf("%s (loaded %s, sha256 %s)", s.GetConfigPath(), at, s.GetConfigHash())
	if s.GetConfigHash() == "" {
		t = fmt.Sprintf("%s (no file: defaults, since %s)", s.GetConfigPath(), at)
	}
	if e := s.GetConfigError(); e != "" {
		t += "\n          not reloaded, the config above stays in force: " + oneLine(e)
	}
	return t
}

// forwardStatus describes the daemon as a remote or a container sees it
// through the restricted socket: the forward and what it allows.
func forwardStatus(out io.Writer, s *pb.StatusResponse, fw *pb.Forward, uptime time.Duration, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{
			"pid": s.GetPid(), "socket": s.GetSocket(), "leases": s.GetLeaseCount(), "locked": s.GetLocked(), "version": s.GetVersion(),
			"uptime_seconds": int64(uptime.Seconds()),
			"forward": map[string]any{"id": fw.GetId(), "host": fw.GetHost(), "ssh_pid": fw.GetSshPid(), "started_at": fw.GetStartedAt().AsTime(),
				"allow_write": fw.GetAllowWrite(), "allow_env": fw.GetAllowEnv(), "repos": fw.GetRepos()},
		})
	}
	fmt.Fprintf(out, "hfbrokerd %s, pid %d, up %s (on the machine that holds the tokens)\n", s.GetVersion(), s.GetPid(), uptime)
	from := "a direct connection to the restricted socket (pid " + fmt.Sprint(fw.GetSshPid()) + ")"
	if fw.GetHost() != "" {
		from = fmt.Sprintf("forwarded from %s (ssh pid %d)", fw.GetHost(), fw.GetSshPid())
	}
	fmt.Fprintf(out, "socket:   %s\n", from)
	allows := "read leases"
	if fw.GetAllowWrite() {
		allows = "read and write leases"
	}
	if fw.GetAllowEnv() {
		allows += ", the real token when asked"
	} else {
		allows += ", through the proxy only"
	}
	if r := fw.GetRepos(); len(r) > 0 {
		allows += "; repos: " + strings.Join(r, ", ")
	}
	fmt.Fprintf(out, "allows:   %s\n", allows)
	fmt.Fprintf(out, "leases:   %d live through it\n", s.GetLeaseCount())
	return nil
}
