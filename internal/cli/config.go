package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hfbroker/hfbroker/internal/config"
)

// newCmdConfig groups the commands that read config.toml without a daemon.
func newCmdConfig(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config path|show|check",
		Short: "Show where config.toml is, what it sets and whether it is valid",
		Long: "config.toml sets the Hub endpoint, the token store, lease lifetimes, git's\n" +
			"preference and routes; docs/CONFIG.md lists every key. These commands read it\n" +
			"as the daemon would, without asking the daemon (it reads the file when it starts).",
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "path",
			Short: "Print config.toml's path (it need not exist)",
			Args:  cobra.NoArgs,
			RunE: func(*cobra.Command, []string) error {
				paths, err := config.ResolvePaths(f.Env)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(f.IO.Out, paths.ConfigFile())
				return err
			},
		},
		newCmdConfigShow(f),
		&cobra.Command{
			Use:   "check [FILE]",
			Short: "Check config.toml (or FILE) and name the file and line of a mistake",
			Args:  cobra.MaximumNArgs(1),
			RunE: func(_ *cobra.Command, args []string) error {
				return configCheckRun(f, args)
			},
		},
	)
	return cmd
}

func newCmdConfigShow(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show [--json]",
		Short: "Print the effective configuration and where each value comes from: default, file or environment",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			paths, err := config.ResolvePaths(f.Env)
			if err != nil {
				return err
			}
			settings, err := config.Describe(f.Env, paths.ConfigFile())
			if err != nil {
				return errorWithHint(ExitError, "run 'hfbroker config check' to see where", "%s", err)
			}
			if asJSON {
				enc := json.NewEncoder(f.IO.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"file": paths.ConfigFile(), "settings": settings})
			}
			fmt.Fprintf(f.IO.Out, "# %s\n", paths.ConfigFile())
			tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
			for _, s := range settings {
				src := string(s.Source)
				if s.EnvVar != "" {
					src += " (" + s.EnvVar + ")"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Key, s.Value, src)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func configCheckRun(f *Factory, args []string) error {
	path := ""
	if len(args) == 1 {
		path = args[0]
	} else {
		paths, err := config.ResolvePaths(f.Env)
		if err != nil {
			return err
		}
		path = paths.ConfigFile()
	}
	err := config.Check(path)
	if p, ok := errors.AsType[*config.Problem](err); ok && p.Msg == "no such file" && len(args) == 0 {
		fmt.Fprintf(f.IO.Out, "%s: no config file; the defaults apply ('hfbroker config show')\n", path)
		return nil
	}
	if err != nil {
		return errorWithHint(ExitError, "docs/CONFIG.md lists every key with its type and an example", "%s", err)
	}
	fmt.Fprintf(f.IO.Out, "%s: ok\n", path)
	return nil
}
