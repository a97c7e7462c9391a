package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/hfbroker/hfbroker/internal/config"
	"github.com/hfbroker/hfbroker/internal/hubapi"
	"github.com/hfbroker/hfbroker/internal/runenv"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// NoTokenPath is the HF_TOKEN_PATH a kernel gets: a path that holds no token
// and cannot be created, even by root. huggingface_hub reads the token file
// only when HF_TOKEN is unset, and treats a missing file as "no token"
// (FileNotFoundError), so get_token() returns the lease token or None;
// login(token=…) and notebook_login() create its parent directory and the
// file, which fails with FileNotFoundError: the token is never written to
// disk. stored_tokens lives beside it, so it is out of reach too. On Linux
// nothing can be created inside /proc/self.
func NoTokenPath() string {
	if runtime.GOOS == "linux" {
		return "/proc/self/hfbroker-no-token-file/token"
	}
	// Elsewhere, /dev/null is not a directory: reading fails too (loudly).
	return "/dev/null/hfbroker-no-token-file/token"
}

// envTokenPath is where huggingface_hub looks for its token file.
const envTokenPath = "HF_TOKEN_PATH"

// kernelMeta marks an hfbroker kernelspec in its metadata.
type kernelMeta struct {
	Wraps string `json:"wraps"`
	Mode  string `json:"mode"` // proxy or env
}

// JupyterOptions are jupyter install's, uninstall's and list's inputs.
type JupyterOptions struct {
	IO        *IOStreams
	Kernel    string
	Name      string
	User      bool
	SysPrefix bool
	Prefix    string
	EnvMode   bool
	Profile   string
	JSON      bool
	Names     []string
	// Jupyter is the jupyter command (default: jupyter in PATH).
	Jupyter string
}

func newCmdJupyter(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "jupyter",
		Short: "Give every Jupyter kernel its own lease, never the real token",
		Long: `Install a Jupyter kernelspec that starts an existing kernel through hfbroker.
Every kernel started with it (JupyterLab, Notebook, VS Code, a JupyterHub
single-user server, nbconvert) gets its own proxy lease: HF_TOKEN is a lease
token that works only through hfbroker's local Hub proxy (HF_ENDPOINT), while
the kernel's processes live, with no wall-clock limit (within
lease.max_until_exit). 'hfbroker leases' shows it with the kernel's name and
connection file. Route rules in config.toml apply: a [[route]] with
dir = "~/work/acme" gives kernels started in that directory its profile.

A kernel that cannot get a lease (vault locked, no profile, daemon
unreachable) still starts, without any token; the reason and the command that
fixes it go to the kernel's stderr (the Jupyter server's log).

HF_TOKEN_PATH points to a path that holds no token and cannot be written, so
huggingface_hub's login(), notebook_login() and get_token() never read or
write a plaintext token file inside the kernel.`,
		Example: `  hfbroker jupyter install
  hfbroker jupyter install --kernel python3 --sys-prefix
  hfbroker jupyter list
  hfbroker jupyter uninstall hfbroker-python3`,
	}
	cmd.AddCommand(newCmdJupyterInstall(f, nil), newCmdJupyterUninstall(f, nil), newCmdJupyterList(f, nil), newCmdJupyterKernel(f, nil))
	return cmd
}

func newCmdJupyterInstall(f *Factory, runF func(*JupyterOptions) error) *cobra.Command {
	opts := &JupyterOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "install [--kernel NAME] [--name NAME] [--user | --sys-prefix | --prefix P] [--env-mode] [--profile P]",
		Short: "Install a kernelspec that starts a kernel through hfbroker",
		Long: `Write a kernelspec, named hfbroker-KERNEL unless --name says otherwise, that
starts the existing kernel KERNEL (default python3) through 'hfbroker jupyter
kernel'. The kernelspec goes where 'jupyter kernelspec install' puts it for
--user (the default), --sys-prefix or --prefix P; it holds no token.

  --env-mode  give the kernel the real token in HF_TOKEN instead of a lease
              token (it can then leak into the notebook's outputs)`,
		Example: `  hfbroker jupyter install
  hfbroker jupyter install --kernel ir --profile acme-ci`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return jupyterInstallRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Kernel, "kernel", "python3", "the installed kernel to start through hfbroker")
	cmd.Flags().StringVar(&opts.Name, "name", "", "the new kernelspec's name (default hfbroker-KERNEL)")
	cmd.Flags().BoolVar(&opts.User, "user", false, "install for this user (the default)")
	cmd.Flags().BoolVar(&opts.SysPrefix, "sys-prefix", false, "install into the Python environment of jupyter (sys.prefix)")
	cmd.Flags().StringVar(&opts.Prefix, "prefix", "", "install under this prefix (PREFIX/share/jupyter/kernels)")
	cmd.Flags().BoolVar(&opts.EnvMode, "env-mode", false, "give the kernel the real token, not a lease token for the proxy")
	cmd.Flags().StringVar(&opts.Profile, "profile", "", "always use this profile's token (default: routes, then the default profile)")
	cmd.Flags().StringVar(&opts.Jupyter, "jupyter", "jupyter", "the jupyter command")
	cmd.MarkFlagsMutuallyExclusive("user", "sys-prefix", "prefix")
	return cmd
}

func newCmdJupyterUninstall(f *Factory, runF func(*JupyterOptions) error) *cobra.Command {
	opts := &JupyterOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "uninstall [NAME…]",
		Short: "Remove hfbroker kernelspecs (default: all of them)",
		Example: `  hfbroker jupyter uninstall
  hfbroker jupyter uninstall hfbroker-python3`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Names = args
			if runF != nil {
				return runF(opts)
			}
			return jupyterUninstallRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Jupyter, "jupyter", "jupyter", "the jupyter command")
	return cmd
}

func newCmdJupyterList(f *Factory, runF func(*JupyterOptions) error) *cobra.Command {
	opts := &JupyterOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List the kernelspecs that start kernels through hfbroker",
		Example: `  hfbroker jupyter list
  hfbroker jupyter list --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return jupyterListRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&opts.Jupyter, "jupyter", "jupyter", "the jupyter command")
	return cmd
}

// kernelspec is one entry of 'jupyter kernelspec list --json'.
type kernelspec struct {
	ResourceDir string         `json:"resource_dir"`
	Spec        map[string]any `json:"spec"`
}

func (k kernelspec) argv() []string {
	raw, _ := k.Spec["argv"].([]any)
	out := make([]string, 0, len(raw))
	for _, a := range raw {
		s, _ := a.(string)
		out = append(out, s)
	}
	return out
}

// hfbroker says whether the kernelspec starts its kernel through hfbroker,
// and how.
func (k kernelspec) hfbroker() (kernelMeta, bool) {
	argv := k.argv()
	if len(argv) < 3 || argv[1] != "jupyter" || argv[2] != "kernel" {
		return kernelMeta{}, false
	}
	m := kernelMeta{Mode: "proxy"}
	md, _ := k.Spec["metadata"].(map[string]any)
	h, marked := md["hfbroker"].(map[string]any)
	if !marked && strings.TrimSuffix(filepath.Base(argv[0]), ".exe") != "hfbroker" {
		return kernelMeta{}, false
	}
	if marked {
		m.Wraps, _ = h["wraps"].(string)
		if mode, _ := h["mode"].(string); mode != "" {
			m.Mode = mode
		}
	}
	return m, true
}

// kernelspecs runs 'jupyter kernelspec list --json'.
func kernelspecs(ctx context.Context, jupyter string) (map[string]kernelspec, error) {
	out, err := runJupyter(ctx, jupyter, "kernelspec", "list", "--json")
	if err != nil {
		return nil, err
	}
	var list struct {
		Kernelspecs map[string]kernelspec `json:"kernelspecs"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		return nil, fmt.Errorf("read 'jupyter kernelspec list --json': %w", err)
	}
	return list.Kernelspecs, nil
}

func runJupyter(ctx context.Context, jupyter string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	c := exec.CommandContext(ctx, jupyter, args...)
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return nil, errorWithHint(ExitError, "install Jupyter (e.g. apt install python3-jupyter-client, or pip install jupyter_client), or pass --jupyter PATH",
				"%s: command not found", jupyter)
		}
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		return nil, fmt.Errorf("%s %s: %v: %s", jupyter, strings.Join(args, " "), err, msg)
	}
	return stdout.Bytes(), nil
}

func jupyterInstallRun(ctx context.Context, opts *JupyterOptions) error {
	specs, err := kernelspecs(ctx, opts.Jupyter)
	if err != nil {
		return err
	}
	src, ok := specs[opts.Kernel]
	if !ok {
		names := make([]string, 0, len(specs))
		for n := range specs {
			names = append(names, n)
		}
		sort.Strings(names)
		return errorWithHint(ExitUsage, "pass --kernel with one of: "+strings.Join(names, ", "), "no Jupyter kernel named %q", opts.Kernel)
	}
	if _, ours := src.hfbroker(); ours {
		return errorWithHint(ExitUsage, "pass --kernel with the kernel it starts", "kernel %q already starts through hfbroker", opts.Kernel)
	}
	name := opts.Name
	if name == "" {
		name = "hfbroker-" + opts.Kernel
	}
	self, err := selfPath()
	if err != nil {
		return err
	}
	mode := "proxy"
	argv := []string{self, "jupyter", "kernel", "--name", name}
	if opts.EnvMode {
		mode = "env"
		argv = append(argv, "--env-mode")
	}
	if opts.Profile != "" {
		argv = append(argv, "--profile", opts.Profile)
	}
	argv = append(argv, "--")
	for _, a := range src.argv() {
		// Jupyter fills in {resource_dir} with the directory of the
		// kernelspec it starts, which is now ours: the kernel's own
		// programs there (a kernel-helper.sh, a jar) stay in its own.
		if src.ResourceDir != "" {
			a = strings.ReplaceAll(a, "{resource_dir}", src.ResourceDir)
		}
		argv = append(argv, a)
	}

	spec := make(map[string]any, len(src.Spec)+2)
	for k, v := range src.Spec {
		spec[k] = v
	}
	spec["argv"] = argv
	if env, ok := src.Spec["env"].(map[string]any); ok {
		// A token set there would be copied into our kernelspec, which
		// holds none; the launcher drops it from the kernel anyway.
		kept, dropped := make(map[string]any, len(env)), []string{}
		for k, v := range env {
			if s, _ := v.(string); len(runenv.Build([]string{k + "=" + s}, nil)) == 0 {
				dropped = append(dropped, k)
				continue
			}
			kept[k] = v
		}
		if len(dropped) > 0 {
			sort.Strings(dropped)
			spec["env"] = kept
			fmt.Fprintf(opts.IO.ErrOut, "hfbroker: warning: kernel %s sets %s in its kernelspec's env: %s leaves them out; remove them from %s\n",
				opts.Kernel, strings.Join(dropped, ", "), name, filepath.Join(src.ResourceDir, "kernel.json"))
		}
	}
	display, _ := src.Spec["display_name"].(string)
	if display == "" {
		display = opts.Kernel
	}
	if opts.EnvMode {
		spec["display_name"] = display + " (hfbroker, real token)"
	} else {
		spec["display_name"] = display + " (hfbroker)"
	}
	md, _ := src.Spec["metadata"].(map[string]any)
	md2 := map[string]any{}
	for k, v := range md {
		md2[k] = v
	}
	md2["hfbroker"] = kernelMeta{Wraps: opts.Kernel, Mode: mode}
	spec["metadata"] = md2

	tmp, err := os.MkdirTemp("", "hfbroker-kernelspec-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	if err := copyKernelResources(src.ResourceDir, dir); err != nil {
		return err
	}
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "kernel.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	args := []string{"kernelspec", "install", dir, "--name", name}
	switch {
	case opts.SysPrefix:
		args = append(args, "--sys-prefix")
	case opts.Prefix != "":
		args = append(args, "--prefix", opts.Prefix)
	default:
		args = append(args, "--user")
	}
	if _, err := runJupyter(ctx, opts.Jupyter, args...); err != nil {
		return err
	}
	installed := ""
	if specs, err := kernelspecs(ctx, opts.Jupyter); err == nil {
		installed = specs[name].ResourceDir
	}
	if installed == "" {
		installed = "(not on Jupyter's path: add the prefix to JUPYTER_PATH)"
	}
	fmt.Fprintf(opts.IO.Out, "Installed kernel %s (%s, starts %s through hfbroker, %s mode) in %s\n", name, spec["display_name"], opts.Kernel, mode, installed)
	return nil
}

// selfPath is the hfbroker the kernelspec runs: the path it was started as
// (a symlink such as /usr/local/bin/hfbroker stays one, so an upgrade that
// moves its target keeps kernels working), else the running executable.
func selfPath() (string, error) {
	if len(os.Args) > 0 && os.Args[0] != "" {
		p := os.Args[0]
		if !strings.ContainsRune(p, filepath.Separator) {
			p, _ = exec.LookPath(p)
		}
		if p != "" {
			if abs, err := filepath.Abs(p); err == nil {
				if info, err := os.Stat(abs); err == nil && info.Mode().IsRegular() {
					return abs, nil
				}
			}
		}
	}
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the hfbroker binary: %w", err)
	}
	return self, nil
}

// copyKernelResources copies a kernelspec's logos and other small files,
// not its kernel.json.
func copyKernelResources(from, to string) error {
	if from == "" {
		return nil
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		return nil // a kernelspec without resources still works
	}
	for _, e := range entries {
		if e.Name() == "kernel.json" || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil || info.Size() > 4<<20 {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func jupyterUninstallRun(ctx context.Context, opts *JupyterOptions) error {
	specs, err := kernelspecs(ctx, opts.Jupyter)
	if err != nil {
		return err
	}
	names := opts.Names
	if len(names) == 0 {
		for n, k := range specs {
			if _, ours := k.hfbroker(); ours {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			fmt.Fprintln(opts.IO.ErrOut, "No hfbroker kernels installed.")
			return nil
		}
		sort.Strings(names)
	}
	for _, n := range names {
		k, ok := specs[n]
		if !ok {
			return errorWithHint(ExitUsage, "run 'hfbroker jupyter list'", "no Jupyter kernel named %q", n)
		}
		if _, ours := k.hfbroker(); !ours {
			return errorWithHint(ExitUsage, "remove it with 'jupyter kernelspec remove "+n+"'", "kernel %q does not start through hfbroker", n)
		}
	}
	args := append([]string{"kernelspec", "remove", "-f"}, names...)
	if _, err := runJupyter(ctx, opts.Jupyter, args...); err != nil {
		return err
	}
	for _, n := range names {
		fmt.Fprintf(opts.IO.Out, "Removed kernel %s from %s\n", n, specs[n].ResourceDir)
	}
	return nil
}

type jupyterKernelJSON struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	Wraps       string `json:"wraps"`
	Mode        string `json:"mode"`
	ResourceDir string `json:"resource_dir"`
}

func jupyterListRun(ctx context.Context, opts *JupyterOptions) error {
	specs, err := kernelspecs(ctx, opts.Jupyter)
	if err != nil {
		return err
	}
	list := []jupyterKernelJSON{}
	for n, k := range specs {
		if m, ours := k.hfbroker(); ours {
			dn, _ := k.Spec["display_name"].(string)
			list = append(list, jupyterKernelJSON{Name: n, DisplayName: dn, Wraps: m.Wraps, Mode: m.Mode, ResourceDir: k.ResourceDir})
		}
	}
	slices.SortFunc(list, func(a, b jupyterKernelJSON) int { return strings.Compare(a.Name, b.Name) })
	if opts.JSON {
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	if len(list) == 0 {
		fmt.Fprintln(opts.IO.ErrOut, "No hfbroker kernels installed.")
		fmt.Fprintln(opts.IO.ErrOut, "hfbroker: hint: run 'hfbroker jupyter install'")
		return nil
	}
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTARTS\tMODE\tDISPLAY NAME\tDIRECTORY")
	for _, k := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.Name, dash(k.Wraps), k.Mode, k.DisplayName, k.ResourceDir)
	}
	return tw.Flush()
}

// JupyterKernelOptions are the kernel launcher's inputs.
type JupyterKernelOptions struct {
	IO     *IOStreams
	Daemon DaemonFunc
	// Env is the environment (HF_ENDPOINT); Endpoint resolves the Hub
	// endpoint.
	Env      config.Env
	Endpoint func() (string, error)
	Name     string
	EnvMode  bool
	Profile  string
	Args     []string
	// anyEndpoint: HF_ENDPOINT is an enclosing exec's proxy, not a Hub.
	anyEndpoint bool
}

// proxyEndpoint reports whether an HF_ENDPOINT is hfbroker's loopback proxy
// (http on a loopback address), as 'exec --proxy' sets it.
func proxyEndpoint(ep string) bool {
	u, err := url.Parse(ep)
	return err == nil && u.Scheme == "http" && hubapi.IsLoopback(u.Hostname())
}

func newCmdJupyterKernel(f *Factory, runF func(*JupyterKernelOptions) error) *cobra.Command {
	opts := &JupyterKernelOptions{IO: f.IO, Daemon: f.Daemon, Env: f.Env, Endpoint: f.Endpoint}
	cmd := &cobra.Command{
		Use:    "kernel [--name NAME] [--env-mode] [--profile P] -- KERNEL ARGV…",
		Short:  "Start a Jupyter kernel with its own lease (used by the installed kernelspec)",
		Hidden: true,
		Args:   cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Args = args
			if runF != nil {
				return runF(opts)
			}
			return jupyterKernelRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().StringVar(&opts.Name, "name", "", "the kernelspec's name, for the lease's label")
	cmd.Flags().BoolVar(&opts.EnvMode, "env-mode", false, "give the kernel the real token")
	cmd.Flags().StringVar(&opts.Profile, "profile", "", "use this profile's token")
	return cmd
}

// connectionFile finds the kernel's connection file in its argv: ipykernel
// and most kernels take it as -f FILE (or --f=FILE).
func connectionFile(args []string) string {
	for i, a := range args {
		switch {
		case (a == "-f" || a == "--f") && i+1 < len(args):
			return args[i+1]
		case strings.HasPrefix(a, "--f="):
			return strings.TrimPrefix(a, "--f=")
		case strings.HasPrefix(a, "-f") && strings.HasSuffix(a, ".json"):
			return strings.TrimPrefix(a, "-f")
		}
	}
	return ""
}

// kernelLabel says which kernel a lease is for: its kernelspec and its
// connection file (which names the kernel's id in Jupyter's runtime dir).
func kernelLabel(name string, args []string) string {
	const maxLen = 256 // broker.MaxLabel
	label := "jupyter kernel"
	if name != "" {
		label += " " + name
	}
	if len(label) > maxLen/2 {
		label = label[:maxLen/2-3] + "..."
	}
	if cf := connectionFile(args); cf != "" {
		// The end of the path names the kernel: keep it.
		if room := maxLen - len(label) - 2; len(cf) > room {
			cf = "..." + cf[len(cf)-(room-3):]
		}
		label += ", " + cf
	}
	label = strings.ToValidUTF8(label, "?")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, label)
}

// jupyterKernelRun takes the kernel's lease and execs the kernel, which keeps
// this pid: Jupyter signals and interrupts it directly, and the lease
// follows it and every process it starts. A kernel that gets no lease still
// starts, without a token: a notebook that needs none must open, and the
// reason is on stderr, which Jupyter shows in its log.
func jupyterKernelRun(ctx context.Context, opts *JupyterKernelOptions) error {
	args := opts.Args
	environ := os.Environ()
	path, err := runenv.Resolve(args[0], environ)
	if err != nil {
		var ce *runenv.CommandError
		if errors.As(err, &ce) {
			return &userError{msg: ce.Error(), code: ce.ExitCode()}
		}
		return err
	}
	// A server started with 'hfbroker exec --proxy' passes down its own
	// lease and the proxy as HF_ENDPOINT: the kernel's lease is then for
	// whichever Hub its profile is bound to, not for the proxy.
	_, nested := runenv.Nested(environ)
	opts.anyEndpoint = nested && proxyEndpoint(opts.Env(runenv.EnvEndpoint))
	// Whatever the server was started with, the kernel's lease is its own:
	// an inherited lease, token or profile does not reach it.
	environ = slices.DeleteFunc(environ, func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return k == runenv.EnvLease || k == runenv.EnvProfile || k == envTokenPath
	})
	set := map[string]string{envTokenPath: NoTokenPath()}
	resp, err := kernelLease(ctx, opts)
	if err != nil {
		// The error and its hint, as any command's (no UsageError
		// comes from a lease, so no command is needed for its hint).
		reportError(opts.IO.ErrOut, nil, err)
		fmt.Fprintf(opts.IO.ErrOut, "hfbroker: warning: kernel %s starts without a Hugging Face token; restart it once fixed\n", dash(opts.Name))
	} else {
		set[runenv.EnvToken] = resp.GetToken()
		set[runenv.EnvProfile] = resp.GetProfile()
		set[runenv.EnvLease] = resp.GetLeaseId()
		switch {
		case resp.GetProxyEndpoint() != "":
			// A lease token works only through the proxy: in proxy mode,
			// and in env mode through a restricted socket, which turns an
			// env lease into a proxy lease unless its forward allows the
			// real token (as 'exec' does).
			set[runenv.EnvEndpoint] = resp.GetProxyEndpoint()
		case opts.anyEndpoint && resp.GetEndpoint() != "":
			// The real token, under a server started with 'exec --proxy':
			// the inherited HF_ENDPOINT is that proxy, which takes lease
			// tokens only; the token goes to its profile's Hub.
			set[runenv.EnvEndpoint] = resp.GetEndpoint()
		default:
			if ep, ok := runenv.EndpointToSet(environ, resp.GetEndpoint()); ok {
				set[runenv.EnvEndpoint] = ep // only config.toml names the Hub
			}
		}
	}
	env := runenv.Build(environ, set)
	err = runenv.Exec(path, args, env)
	var ce *runenv.CommandError
	if errors.As(err, &ce) {
		return &userError{msg: ce.Error(), code: ce.ExitCode()}
	}
	return fmt.Errorf("exec %s: %w", args[0], err)
}

// kernelLeaseTimeout bounds how long a kernel's start waits for its lease.
const kernelLeaseTimeout = 20 * time.Second

func kernelLease(ctx context.Context, opts *JupyterKernelOptions) (*pb.LeaseResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, kernelLeaseTimeout)
	defer cancel()
	purpose := pb.Purpose_PURPOSE_PROXY
	if opts.EnvMode {
		purpose = pb.Purpose_PURPOSE_EXEC
	}
	req := &pb.LeaseRequest{Profile: opts.Profile, Purpose: purpose, Access: pb.Access_ACCESS_READ,
		UntilExit: true, Label: kernelLabel(opts.Name, opts.Args)}
	if !opts.anyEndpoint {
		ep, err := opts.Endpoint()
		if err != nil {
			return nil, err
		}
		req.Endpoint = ep
	}
	var resp *pb.LeaseResponse
	if err := withDaemon(ctx, opts.Daemon, func(c Daemon) error {
		var err error
		resp, err = c.Lease(ctx, req)
		return err
	}); err != nil {
		return nil, err
	}
	if !opts.EnvMode && resp.GetProxyEndpoint() == "" {
		return nil, errorWithHint(ExitError, "update hfbrokerd", "the daemon gave no proxy endpoint")
	}
	return resp, nil
}
