package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hfbroker/hfbroker/internal/client"
	"github.com/hfbroker/hfbroker/internal/config"
	"github.com/hfbroker/hfbroker/internal/fullcli"
)

// SetupGitOptions are setup-git's inputs.
type SetupGitOptions struct {
	IO *IOStreams
	// Endpoint resolves the Hub endpoint the settings are for; Env is the
	// environment (whether 'hfbroker ssh' set git up for this session).
	Endpoint  func() (string, error)
	Env       config.Env
	Uninstall bool
	Local     bool
	Global    bool
	// Executable is the path git will run; tests may set it.
	Executable string
}

func newCmdSetupGit(f *Factory, runF func(*SetupGitOptions) error) *cobra.Command {
	opts := &SetupGitOptions{IO: f.IO, Endpoint: f.Endpoint, Env: f.Env}
	cmd := &cobra.Command{
		Use:   "setup-git [--uninstall] [--global|--local]",
		Short: "Make hfbroker git's credential helper for the Hub",
		Long: `Configure git to ask hfbroker for Hub credentials, for the Hub's host only:

  credential.<endpoint>.helper = ""          (drops helpers inherited for that host,
                                              such as the plaintext 'store')
  credential.<endpoint>.helper = !'<path>' git-credential
  credential.<endpoint>.useHttpPath = true   (so each repo gets its own token)

Running it again changes nothing; --uninstall removes exactly these settings.`,
		Example: `  hfbroker setup-git
  hfbroker setup-git --local
  hfbroker setup-git --uninstall`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return setupGitRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Uninstall, "uninstall", false, "remove hfbroker's git settings")
	cmd.Flags().BoolVar(&opts.Global, "global", false, "change ~/.gitconfig (the default)")
	cmd.Flags().BoolVar(&opts.Local, "local", false, "change this repository's .git/config")
	cmd.MarkFlagsMutuallyExclusive("global", "local")
	return cmd
}

func setupGitRun(ctx context.Context, opts *SetupGitOptions) error {
	endpoint, err := opts.Endpoint()
	if err != nil {
		return err
	}
	scope := "--global"
	if opts.Local {
		scope = "--local"
	}
	exe := opts.Executable
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("find hfbroker's path: %w", err)
		}
		// Run as the full CLI (hfbroker-cli, which the hfbroker front end
		// executes): git runs the front, which answers it fastest.
		if front := fullcli.Front(exe); front != "" {
			exe = front
		}
	}
	if strings.ContainsAny(exe, "'\n") {
		return errorWithHint(ExitError, "install hfbroker under a path without quotes or newlines", "cannot quote %q for git's shell", exe)
	}
	helperKey := "credential." + endpoint + ".helper"
	pathKey := "credential." + endpoint + ".useHttpPath"
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", append([]string{"config", scope}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		if err != nil && errb.Len() > 0 {
			err = fmt.Errorf("git config %s: %s: %w", strings.Join(args, " "), oneLine(errb.String()), err)
		}
		return out.String(), err
	}
	// Remove ours first, so both install and uninstall are idempotent.
	if _, err := git("--unset-all", helperKey); err != nil && exitCode(err) != 5 {
		return err
	}
	if _, err := git("--unset-all", pathKey); err != nil && exitCode(err) != 5 {
		return err
	}
	if opts.Uninstall {
		fmt.Fprintf(opts.IO.Out, "Removed hfbroker's git credential settings for %s (%s)\n", endpoint, strings.TrimPrefix(scope, "--"))
		return nil
	}
	helper := "!'" + exe + "' git-credential"
	for _, kv := range [][]string{{"--add", helperKey, ""}, {"--add", helperKey, helper}, {pathKey, "true"}} {
		if _, err := git(kv...); err != nil {
			return err
		}
	}
	fmt.Fprintf(opts.IO.Out, "git now asks hfbroker for %s credentials (%s config)\n", endpoint, strings.TrimPrefix(scope, "--"))
	if host := opts.Env(client.ForwardEnv); host != "" && opts.Env("GIT_CONFIG_COUNT") != "" {
		// hfbroker ssh (without --allow-env) set git up for its session.
		fmt.Fprintf(opts.IO.Out, "In this session git reaches the Hub through the proxy forwarded from %s, with lease tokens only (set by 'hfbroker ssh' for the session)\n", oneLine(host))
	}
	return nil
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
