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
		Example: `  hfbroker config path
  hfbroker config show --json
  hfbroker config check`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newCmdConfigPath(f, nil), newCmdConfigShow(f, nil), newCmdConfigCheck(f, nil))
	return cmd
}

// ConfigOptions are the config commands' inputs.
type ConfigOptions struct {
	IO  *IOStreams
	Env config.Env
	// JSON is config show --json.
	JSON bool
	// File is config check's FILE, when FileGiven; else config.toml.
	File      string
	FileGiven bool
}

func newCmdConfigPath(f *Factory, runF func(*ConfigOptions) error) *cobra.Command {
	opts := &ConfigOptions{IO: f.IO, Env: f.Env}
	return &cobra.Command{
		Use:     "path",
		Short:   "Print config.toml's path (it need not exist)",
		Example: "  $EDITOR \"$(hfbroker config path)\"",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if runF != nil {
				return runF(opts)
			}
			return configPathRun(opts)
		},
	}
}

func configPathRun(opts *ConfigOptions) error {
	paths, err := config.ResolvePaths(opts.Env)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(opts.IO.Out, paths.ConfigFile())
	return err
}

func newCmdConfigShow(f *Factory, runF func(*ConfigOptions) error) *cobra.Command {
	opts := &ConfigOptions{IO: f.IO, Env: f.Env}
	cmd := &cobra.Command{
		Use:   "show [--json]",
		Short: "Print the effective configuration and where each value comes from: default, file or environment",
		Example: `  hfbroker config show
  hfbroker config show --json`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if runF != nil {
				return runF(opts)
			}
			return configShowRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

func configShowRun(opts *ConfigOptions) error {
	paths, err := config.ResolvePaths(opts.Env)
	if err != nil {
		return err
	}
	settings, err := config.Describe(opts.Env, paths.ConfigFile())
	if err != nil {
		return errorWithHint(ExitError, "run 'hfbroker config check' to see where", "%s", err)
	}
	if opts.JSON {
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"file": paths.ConfigFile(), "settings": settings})
	}
	fmt.Fprintf(opts.IO.Out, "# %s\n", paths.ConfigFile())
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 4, 2, ' ', 0)
	for _, s := range settings {
		src := string(s.Source)
		if s.EnvVar != "" {
			src += " (" + s.EnvVar + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Key, s.Value, src)
	}
	return tw.Flush()
}

func newCmdConfigCheck(f *Factory, runF func(*ConfigOptions) error) *cobra.Command {
	opts := &ConfigOptions{IO: f.IO, Env: f.Env}
	return &cobra.Command{
		Use:   "check [FILE]",
		Short: "Check config.toml (or FILE) and name the file and line of a mistake",
		Example: `  hfbroker config check
  hfbroker config check ./config.toml`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.File, opts.FileGiven = args[0], true
			}
			if runF != nil {
				return runF(opts)
			}
			return configCheckRun(opts)
		},
	}
}

func configCheckRun(opts *ConfigOptions) error {
	path := opts.File
	if !opts.FileGiven {
		paths, err := config.ResolvePaths(opts.Env)
		if err != nil {
			return err
		}
		path = paths.ConfigFile()
	}
	err := config.Check(path)
	if p, ok := errors.AsType[*config.Problem](err); ok && p.Msg == "no such file" && !opts.FileGiven {
		fmt.Fprintf(opts.IO.Out, "%s: no config file; the defaults apply ('hfbroker config show')\n", path)
		return nil
	}
	if err != nil {
		return errorWithHint(ExitError, "docs/CONFIG.md lists every key with its type and an example", "%s", err)
	}
	fmt.Fprintf(opts.IO.Out, "%s: ok\n", path)
	return nil
}
