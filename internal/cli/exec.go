package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/hfbroker/hfbroker/internal/runenv"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// ExecOptions are exec's inputs.
type ExecOptions struct {
	IO     *IOStreams
	Daemon DaemonFunc
	// Endpoint resolves the Hub endpoint (HF_ENDPOINT, config.toml).
	Endpoint    func() (string, error)
	Choice      choiceFlags
	Mask        bool
	Proxy       bool
	AllowNested bool
	Args        []string
	// Reraise ends hfbroker by the signal that killed a --mask command
	// (runenv.Reraise); nil exits 128+N.
	Reraise func(os.Signal)
}

func newCmdExec(f *Factory, runF func(*ExecOptions) error) *cobra.Command {
	opts := &ExecOptions{IO: f.IO, Daemon: f.Daemon, Endpoint: f.Endpoint, Reraise: runenv.Reraise}
	cmd := &cobra.Command{
		Use:   "exec [--profile P | --repo R... [--write] [--write-repo W...]] [--ttl D] [--mask] [--proxy [--no-public]] [--] [CMD ARGS...]",
		Short: "Run a command with HF_TOKEN set to the right token",
		Long: `Run a command with HF_TOKEN set to a leased token. The command replaces hfbroker
(same pid, signals, exit code and terminal); its lease ends when it exits or
its TTL passes. Without a command, runs your $SHELL.

The child's environment is yours minus HF_TOKEN and HUGGING_FACE_HUB_TOKEN,
plus HF_TOKEN, HFBROKER_PROFILE and HFBROKER_LEASE, and HF_ENDPOINT when only
config.toml names the Hub.

  --mask   supervise the command instead, replacing the token with hf_*** in
           its stdout and stderr (they become pipes, not the terminal)
  --proxy  give the command a lease token that works only through hfbroker's
           local Hub proxy (HF_ENDPOINT), never the real token; the proxy
           enforces the lease's repos, and lets it read public repos too
           unless --no-public

  --repo acme/llm --repo datasets/acme/corpus --write-repo acme/llm-ft
           one token that reads the first two and writes the third;
           acme/* stands for every model of acme`,
		Example: `  hfbroker exec --repo acme/llm -- python train.py
  hfbroker exec --repo acme/llm --write -- huggingface-cli upload acme/llm ./out
  hfbroker exec --proxy --repo 'acme/*' -- python eval.py
  hfbroker exec --profile acme-ci --ttl 2h -- ./job.sh`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Args = args
			if runF != nil {
				return runF(opts)
			}
			return execRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().SetInterspersed(false) // `hfbroker exec python -u x.py` keeps -u
	opts.Choice.register(cmd, f)
	opts.Choice.registerTTL(cmd)
	cmd.Flags().BoolVar(&opts.Mask, "mask", false, "hide the token in the command's output")
	cmd.Flags().BoolVar(&opts.Proxy, "proxy", false, "give the command a lease token for the local Hub proxy, not the real token")
	cmd.Flags().BoolVar(&opts.Choice.NoPublic, "no-public", false, "with --proxy: read only the repos named, not public ones")
	cmd.Flags().BoolVar(&opts.AllowNested, "allow-nested", false, "allow exec inside another hfbroker exec")
	return cmd
}

func execRun(ctx context.Context, opts *ExecOptions) error {
	environ := os.Environ()
	lease, nested := runenv.Nested(environ)
	if nested && !opts.AllowNested {
		return errorWithHint(ExitUsage, "exit that shell first, or pass --allow-nested",
			"already inside 'hfbroker exec' (lease %s)", lease)
	}
	args := opts.Args
	if len(args) == 0 {
		shell := os.Getenv("SHELL")
		if shell == "" {
			shell = "/bin/sh"
		}
		args = []string{shell}
	}
	// Resolve first: a typo costs no lease.
	path, err := runenv.Resolve(args[0], environ)
	if err != nil {
		var ce *runenv.CommandError
		if errors.As(err, &ce) {
			return &userError{msg: ce.Error(), code: ce.ExitCode()}
		}
		return err
	}
	if opts.Choice.NoPublic && !opts.Proxy {
		return errorWithHint(ExitUsage, "add --proxy, or drop --no-public", "--no-public needs --proxy")
	}
	purpose := pb.Purpose_PURPOSE_EXEC
	if opts.Proxy {
		purpose = pb.Purpose_PURPOSE_PROXY
	}
	req, err := opts.Choice.leaseRequest(opts.Endpoint, purpose)
	if err != nil {
		return err
	}
	// Inside 'hfbroker exec --proxy', HF_ENDPOINT is that exec's proxy, not
	// a Hub: the lease is for its profile's Hub, as a Jupyter kernel's is
	// (a lease for the proxy's address was refused, with a hint to log in
	// there).
	inProxy := nested && proxyEndpoint(os.Getenv(runenv.EnvEndpoint))
	if inProxy {
		req.Endpoint = ""
	}
	var resp *pb.LeaseResponse
	if err := withDaemon(ctx, opts.Daemon, func(c Daemon) error {
		resp, err = c.Lease(ctx, req)
		return err
	}); err != nil {
		return err
	}
	if resp.GetShortenedToToken() {
		fmt.Fprintln(opts.IO.ErrOut, shortenedNote(resp))
	}
	if resp.GetFollow() == "process" {
		// The daemon cannot find this job's other processes here (no /proc).
		fmt.Fprintf(opts.IO.ErrOut, "hfbroker: warning: background processes of %s lose access when it exits (this system cannot follow a process tree)\n", args[0])
	}
	set := map[string]string{
		"HF_TOKEN":         resp.GetToken(),
		"HFBROKER_PROFILE": resp.GetProfile(),
		"HFBROKER_LEASE":   resp.GetLeaseId(),
	}
	if ep := resp.GetProxyEndpoint(); ep != "" {
		// With --proxy, and through a forwarded socket (hfbroker ssh), where
		// a plain exec becomes a proxy lease unless the forward allows the
		// real token.
		set["HF_ENDPOINT"] = ep
	} else if opts.Proxy {
		return errorWithHint(ExitError, "update hfbrokerd", "the daemon gave no proxy endpoint")
	} else if ep := resp.GetEndpoint(); inProxy && ep != "" {
		// The Hub token goes to its Hub: the proxy takes lease tokens only.
		set["HF_ENDPOINT"] = ep
	} else if ep, ok := runenv.EndpointToSet(environ, ep); ok {
		// The Hub came from config.toml: the child's tools must be told.
		set["HF_ENDPOINT"] = ep
	}
	env := runenv.Build(environ, set)
	if !opts.Mask {
		err := runenv.Exec(path, args, env)
		// Exec returns only when the exec itself failed.
		var ce *runenv.CommandError
		if errors.As(err, &ce) {
			return &userError{msg: ce.Error(), code: ce.ExitCode()}
		}
		return fmt.Errorf("exec %s: %w", args[0], err)
	}
	var killedBy os.Signal
	code, err := runenv.Supervise(ctx, runenv.SuperviseOptions{
		Path: path, Args: args, Env: env,
		Stdin: opts.IO.In, Stdout: opts.IO.Out, Stderr: opts.IO.ErrOut,
		Mask:     []string{resp.GetToken()},
		OnKilled: func(sig os.Signal) { killedBy = sig },
	})
	if err != nil {
		var ce *runenv.CommandError
		if errors.As(err, &ce) {
			return &userError{msg: ce.Error(), code: ce.ExitCode()}
		}
		fmt.Fprintf(opts.IO.ErrOut, "hfbroker: warning: %s\n", oneLine(err.Error()))
	}
	if killedBy != nil && opts.Reraise != nil {
		// A shell stops a script at a Ctrl-C only when its command died of
		// SIGINT, as the command would have without --mask.
		opts.Reraise(killedBy) // returns only when hfbroker cannot die of it
	}
	return exitCodeError{code}
}
