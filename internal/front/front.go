//go:build unix

// Package front is the hfbroker command's front end (issue 16): a small
// program that answers the hot commands, `hfbroker token`, git's credential
// helper and `hfbroker exec`, itself, and executes the full CLI
// (hfbroker-cli, internal/cli) for everything else.
//
// Go initialises every package a binary links before main runs, whichever
// command runs: the full CLI's cobra, protobuf runtime and toml cost it
// 2.2–2.6x an empty Go program's start-up before it does anything
// (docs/benchmarks-analysis.md, round 3). The front links none of them
// (cmd/hfbroker/deps_test.go keeps it so).
//
// The front handles a command only when it understands every argument and
// the daemon answers OK. In every other case it executes the full CLI with
// the same argv, environment and stdin, before it has changed anything: any
// other command, --help, a flag it does not know, a config.toml to read, a
// value the full CLI would refuse, no daemon listening (the full CLI starts
// one), a socket served by someone else, or an error reply (the full CLI asks
// again and prints the one error text, hint and exit code). So nothing is
// duplicated here but the happy paths, whose output matches the full CLI's
// byte for byte (cmd/hfbroker's TestFrontMatchesFullCLI).
package front

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hfbroker/hfbroker/internal/fullcli"
	"github.com/hfbroker/hfbroker/internal/gitcred"
	"github.com/hfbroker/hfbroker/internal/hubapi"
	"github.com/hfbroker/hfbroker/internal/peercred"
	"github.com/hfbroker/hfbroker/internal/profilename"
	"github.com/hfbroker/hfbroker/internal/runenv"
	"github.com/hfbroker/hfbroker/internal/socket"
	"github.com/hfbroker/hfbroker/internal/xdg"
)

// Main runs the front with the process's argv and returns an exit code when
// it neither succeeded at exec nor handed over to the full CLI.
func Main(argv []string) int {
	f := &frontCall{argv: argv, stdout: os.Stdout, stderr: os.Stderr}
	return f.run()
}

type frontCall struct {
	argv   []string
	stdout io.Writer
	stderr io.Writer
	// stdin holds what the front read from stdin, for the full CLI to read
	// again; nil while stdin is untouched.
	stdin []byte
}

// errFallback means: let the full CLI do it.
var errFallback = errors.New("fall back to the full CLI")

func (f *frontCall) run() int {
	args := commandArgs(f.argv)
	var code int
	err := errFallback
	if len(args) > 0 {
		switch args[0] {
		case "token":
			code, err = f.token(args[1:])
		case "exec":
			code, err = f.exec(args[1:])
		case "git-credential":
			code, err = f.gitCredential(args[1:])
		}
	}
	if err == nil {
		return code
	}
	return f.fallback()
}

// commandArgs is cli.Args: invoked as git-credential-hfbroker (git's
// credential.helper=hfbroker), it is the git-credential command.
func commandArgs(argv []string) []string {
	if len(argv) == 0 {
		return nil
	}
	base := argv[0]
	if i := strings.LastIndexByte(base, '/'); i >= 0 {
		base = base[i+1:]
	}
	if base == "git-credential-hfbroker" {
		return append([]string{"git-credential"}, argv[1:]...)
	}
	return argv[1:]
}

// fallback executes the full CLI with the same argv and environment, and
// stdin as it was: what the front read of it is put back in front.
func (f *frontCall) fallback() int {
	self, err := os.Executable()
	if err != nil {
		return f.fail(fmt.Errorf("find hfbroker's path: %w", err))
	}
	full, err := fullcli.Find(self)
	if err != nil {
		return f.fail(err)
	}
	if f.stdin != nil {
		if err := replaceStdin(f.stdin); err != nil {
			return f.fail(fmt.Errorf("hand stdin to %s: %w", fullcli.Name, err))
		}
	}
	err = syscall.Exec(full, f.argv, os.Environ())
	return f.fail(fmt.Errorf("run %s: %w", full, err))
}

func (f *frontCall) fail(err error) int {
	fmt.Fprintf(f.stderr, "hfbroker: error: %s\n", oneLine(err.Error()))
	fmt.Fprintf(f.stderr, "hfbroker: hint: reinstall hfbroker: %s must sit beside hfbroker or in ../libexec/hfbroker/\n", fullcli.Name)
	return 1
}

// replaceStdin makes fd 0 read b and then end, for the full CLI.
func replaceStdin(b []byte) error {
	var fd int
	if len(b) <= 4096 { // fits any pipe's buffer (PIPE_BUF at least)
		var p [2]int
		if err := unix.Pipe(p[:]); err != nil {
			return err
		}
		if _, err := unix.Write(p[1], b); err != nil {
			return err
		}
		unix.Close(p[1])
		fd = p[0]
	} else {
		t, err := os.CreateTemp("", "hfbroker-stdin-")
		if err != nil {
			return err
		}
		os.Remove(t.Name())
		if _, err := t.Write(b); err != nil {
			return err
		}
		if _, err := t.Seek(0, io.SeekStart); err != nil {
			return err
		}
		fd, err = unix.Dup(int(t.Fd()))
		if err != nil {
			return err
		}
	}
	if err := unix.Dup2(fd, 0); err != nil {
		return err
	}
	return unix.Close(fd)
}

// endpoint resolves the Hub endpoint as the full CLI does (config.Endpoint)
// when it needs no config file: HF_ENDPOINT, else the default. A config.toml
// the front would have to parse (and to report when it does not parse) is
// the full CLI's: the front does not link toml.
func endpoint() (string, error) {
	paths, err := xdg.Resolve(os.Getenv)
	if err != nil {
		return "", errFallback
	}
	if _, err := os.Lstat(paths.ConfigFile()); !errors.Is(err, os.ErrNotExist) {
		return "", errFallback
	}
	if v := os.Getenv("HF_ENDPOINT"); v != "" {
		ep, err := hubapi.NormalizeEndpoint(v)
		if err != nil {
			return "", errFallback
		}
		return ep, nil
	}
	return hubapi.DefaultEndpoint, nil
}

// conn is a lane connection to a daemon that runs as our uid: a raw
// descriptor with blocking I/O. A process that makes one call does not need
// the net package's poller (and the threads it starts).
type conn struct {
	fd int
}

// dial connects to the daemon's socket and checks who serves it; any
// failure is the full CLI's to report (or to start the daemon for).
func dial() (*conn, error) {
	path, err := socket.DefaultPath()
	if err != nil {
		return nil, errFallback
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return nil, errFallback
	}
	unix.CloseOnExec(fd)
	c := &conn{fd: fd}
	// As the full CLI's net.DialTimeout: a connect that waits on a full
	// backlog gives up after 2 s.
	if c.setTimeout(2*time.Second) != nil || connect(fd, path) != nil || c.setTimeout(0) != nil {
		c.close()
		return nil, errFallback
	}
	cred, err := peercred.FromFD(fd)
	if err != nil || int(cred.UID) != os.Getuid() {
		c.close()
		return nil, errFallback
	}
	return c, nil
}

func connect(fd int, path string) error {
	for {
		err := unix.Connect(fd, &unix.SockaddrUnix{Name: path})
		if err != unix.EINTR {
			return err
		}
	}
}

// setTimeout bounds each later read, write and connect; 0 is no bound.
func (c *conn) setTimeout(d time.Duration) error {
	tv := unix.NsecToTimeval(d.Nanoseconds())
	if err := unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return err
	}
	return unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
}

func (c *conn) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(c.fd, p)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, err
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (c *conn) writeAll(b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(c.fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// maxFrame is lane.MaxFrameSize.
const maxFrame = 64<<10 + 4<<10

// call makes one BrokerService call over the lane and returns the response
// message; any failure, the daemon's error replies included, is errFallback.
func (c *conn) call(method string, req []byte, deadline time.Time) ([]byte, error) {
	var timeout time.Duration
	if !deadline.IsZero() {
		timeout = time.Until(deadline)
		if timeout <= 0 || c.setTimeout(timeout) != nil {
			return nil, errFallback
		}
	}
	call := appendCall(nil, method, req, timeout)
	frame := append([]byte("HFL1"), appendUvarint(nil, uint64(len(call)))...)
	frame = append(frame, call...)
	if err := c.writeAll(frame); err != nil {
		return nil, errFallback
	}
	buf := make([]byte, 4096)
	n, err := io.ReadAtLeast(c, buf, 5)
	if err != nil || string(buf[:4]) != "HFL1" {
		return nil, errFallback
	}
	have := buf[4:n]
	size, k := consumeUvarint(have)
	for k < 0 && len(have) < 10 {
		// The size prefix arrived in pieces.
		m, err := c.Read(buf[n:])
		if err != nil {
			return nil, errFallback
		}
		n += m
		have = buf[4:n]
		size, k = consumeUvarint(have)
	}
	if k < 0 || size > maxFrame {
		return nil, errFallback
	}
	body := make([]byte, size)
	got := copy(body, have[k:])
	if uint64(got) < size {
		if _, err := io.ReadFull(c, body[got:]); err != nil {
			return nil, errFallback
		}
	}
	reply, err := decodeLaneReply(body)
	if err != nil || reply.failed {
		return nil, errFallback
	}
	return reply.response, nil
}

func (c *conn) close() { unix.Close(c.fd) }

// lease makes the Lease call.
func lease(req *leaseRequest, deadline time.Time) (*leaseResponse, error) {
	c, err := dial()
	if err != nil {
		return nil, err
	}
	defer c.close()
	out, err := c.call("Lease", req.append(nil), deadline)
	if err != nil {
		return nil, err
	}
	resp, err := decodeLeaseResponse(out)
	if err != nil {
		return nil, errFallback
	}
	return resp, nil
}

// shortenedNote is the full CLI's note (internal/cli/loginweb.go) for a lease
// cut to its OAuth access token's expiry.
func shortenedNote(resp *leaseResponse) string {
	var exp time.Time
	if resp.expiresAt != nil {
		exp = resp.expiresAt.asTime()
	} else {
		exp = time.Unix(0, 0).UTC() // (*timestamppb.Timestamp)(nil).AsTime()
	}
	return fmt.Sprintf("hfbroker: note: the lease ends %s, when profile %s's access token expires (use 'exec --proxy' for longer jobs)",
		exp.UTC().Format("2006-01-02 15:04:05 UTC"), resp.profile)
}

// token is `hfbroker token [--profile P | --repo R... [--write] [--write-repo W...]]`.
func (f *frontCall) token(args []string) (int, error) {
	var ch choice
	rest, err := ch.parse(args, false, true)
	if err != nil || len(rest) != 0 {
		return 0, errFallback
	}
	req, err := ch.leaseRequest(purposeToken)
	if err != nil {
		return 0, err
	}
	resp, err := lease(req, time.Time{})
	if err != nil {
		return 0, err
	}
	if resp.shortenedToToken {
		fmt.Fprintln(f.stderr, shortenedNote(resp))
	}
	if _, err := fmt.Fprintln(f.stdout, resp.token); err != nil {
		fmt.Fprintf(f.stderr, "hfbroker: error: %s\n", oneLine(err.Error()))
		return 1, nil
	}
	return 0, nil
}

// exec is `hfbroker exec [choice] [--ttl D | --until-exit] [--proxy [--no-public]] [--] [CMD ARGS...]`,
// without --mask (which supervises the command: the full CLI's).
func (f *frontCall) exec(args []string) (int, error) {
	var ch choice
	cmdArgs, err := ch.parse(args, true, false)
	if err != nil {
		return 0, errFallback
	}
	environ := os.Environ()
	if _, nested := runenv.Nested(environ); nested {
		return 0, errFallback
	}
	if len(cmdArgs) == 0 {
		shell := os.Getenv("SHELL")
		if shell == "" {
			shell = "/bin/sh"
		}
		cmdArgs = []string{shell}
	}
	path, err := runenv.Resolve(cmdArgs[0], environ)
	if err != nil {
		return 0, errFallback
	}
	if ch.noPublic && !ch.proxy {
		return 0, errFallback
	}
	purpose := purposeExec
	if ch.proxy {
		purpose = purposeProxy
	}
	req, err := ch.leaseRequest(purpose)
	if err != nil {
		return 0, err
	}
	resp, err := lease(req, time.Time{})
	if err != nil {
		return 0, err
	}
	set := map[string]string{
		"HF_TOKEN":         resp.token,
		"HFBROKER_PROFILE": resp.profile,
		"HFBROKER_LEASE":   resp.leaseID,
	}
	if resp.proxyEndpoint != "" {
		set["HF_ENDPOINT"] = resp.proxyEndpoint
	} else if ch.proxy {
		return 0, errFallback // an old daemon: the full CLI says so
	}
	if resp.shortenedToToken {
		fmt.Fprintln(f.stderr, shortenedNote(resp))
	}
	if resp.follow == "process" {
		fmt.Fprintf(f.stderr, "hfbroker: warning: background processes of %s lose access when it exits (this system cannot follow a process tree)\n", cmdArgs[0])
	}
	err = runenv.Exec(path, cmdArgs, runenv.Build(environ, set))
	// Exec returns only when the exec itself failed.
	var ce *runenv.CommandError
	if errors.As(err, &ce) {
		fmt.Fprintf(f.stderr, "hfbroker: error: %s\n", oneLine(ce.Error()))
		return ce.ExitCode(), nil
	}
	fmt.Fprintf(f.stderr, "hfbroker: error: %s\n", oneLine(fmt.Sprintf("exec %s: %v", cmdArgs[0], err)))
	return 1, nil
}

// gitDaemonTimeout is the full CLI's bound on waiting for the daemon.
const gitDaemonTimeout = 5 * time.Second

// gitCredential is git's credential helper, as internal/cli/gitcredential.go:
// only get answers; store and erase report to the daemon.
func (f *frontCall) gitCredential(args []string) (int, error) {
	deadline := time.Now().Add(gitDaemonTimeout)
	if len(args) != 1 {
		return 0, errFallback
	}
	op := args[0]
	switch op {
	case "get", "store", "erase":
	default:
		return 0, errFallback
	}
	ep, err := endpoint()
	if err != nil {
		return 0, err
	}
	epURL, err := url.Parse(ep)
	if err != nil {
		return 0, errFallback
	}
	// Dial before reading stdin: with no daemon, the full CLI gets stdin
	// untouched (and starts one).
	c, err := dial()
	if err != nil {
		return 0, err
	}
	defer c.close()
	warn := func(format string, args ...any) {
		fmt.Fprintf(f.stderr, "hfbroker git-credential: "+format+"\n", args...)
	}
	in := &recorder{r: os.Stdin}
	req, err := gitcred.Parse(in)
	f.stdin = in.buf
	if f.stdin == nil {
		f.stdin = []byte{}
	}
	if err != nil {
		warn("refused a malformed request: %v", err)
		return 0, nil
	}
	target, err := gitcred.Match(req, epURL)
	if err != nil {
		if errors.Is(err, gitcred.ErrNoMatch) {
			return 0, nil // not our host: let git ask its other helpers
		}
		warn("refused: %v", err)
		return 0, nil
	}
	var r *repo
	if target.Repo != nil {
		r = &repo{typ: gitRepoType(target.Repo.Type), id: target.Repo.ID()}
	}
	if op == "get" {
		out, err := c.call("Lease", (&leaseRequest{repo: r, purpose: purposeGit, access: accessUnspecified, endpoint: ep}).append(nil), deadline)
		if err != nil {
			return 0, err
		}
		resp, err := decodeLeaseResponse(out)
		if err != nil {
			return 0, errFallback
		}
		user := resp.user
		if user == "" {
			user = "hf_user"
		}
		ans := gitcred.Answer{Username: user, Password: resp.token}
		if resp.expiresAt != nil {
			ans.PasswordExpiry = resp.expiresAt.asTime()
		}
		if te := resp.tokenExpiresAt; te != nil && (ans.PasswordExpiry.IsZero() || te.asTime().Before(ans.PasswordExpiry)) {
			ans.PasswordExpiry = te.asTime()
		}
		if err := gitcred.WriteAnswer(f.stdout, ans); err != nil {
			warn("not answering: %v", err)
		}
		return 0, nil
	}
	rr := &reportGitCredentialRequest{repo: r, host: target.Host, operation: gitOperationStore}
	if op == "erase" {
		rr.operation = gitOperationErase
	}
	if req.Password != "" {
		rr.fingerprint = fingerprint(req.Password)
	}
	out, err := c.call("ReportGitCredential", rr.append(nil), deadline)
	if err != nil {
		return 0, err
	}
	resp, err := decodeReportGitCredentialResponse(out)
	if err != nil {
		return 0, errFallback
	}
	if op == "store" && !resp.known && strings.HasPrefix(req.Password, "hf_") {
		warn("git offered a Hugging Face token that hfbroker does not hold; it was not stored. To keep it in the keychain, run 'hfbroker import' or 'hfbroker login'")
	}
	if op == "erase" && resp.known {
		name := "REPO"
		if t := repoText(r); t != "" {
			name = t
		}
		warn("the server refused the token of profile %s for %s", oneLine(resp.profile), name)
		warn("hint: run 'hfbroker doctor %s --write' to see which token can push there ('hfbroker doctor %s' for fetching)", name, name)
	}
	return 0, nil
}

// recorder keeps what is read through it, for the full CLI to read again.
type recorder struct {
	r   io.Reader
	buf []byte
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.buf = append(r.buf, p[:n]...)
	return n, err
}

func gitRepoType(t string) int {
	switch t {
	case gitcred.TypeDataset:
		return repoTypeDataset
	case gitcred.TypeSpace:
		return repoTypeSpace
	}
	return repoTypeModel
}

// repoText is internal/cli's.
func repoText(r *repo) string {
	if r == nil || r.id == "" {
		return ""
	}
	switch r.typ {
	case repoTypeDataset:
		return "datasets/" + r.id
	case repoTypeSpace:
		return "spaces/" + r.id
	}
	return r.id
}

// oneLine is internal/cli's: an error on one line, so nothing it quotes can
// forge output.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r < ' ' && r != '\t' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// choice is internal/cli's choiceFlags, for the forms the front accepts.
type choice struct {
	profile          string
	repos, writeRepo []string
	write            bool
	// exec's only:
	ttl       time.Duration
	ttlSet    bool
	untilExit bool
	proxy     bool
	noPublic  bool
	withTTL   bool
}

// parse reads the flags the front knows, as pflag would, and returns the
// arguments after them; any other form is an error (the full CLI's to
// judge). exec stops at its first argument that is not a flag
// (SetInterspersed(false)); token takes none.
func (c *choice) parse(args []string, isExec, interspersed bool) ([]string, error) {
	c.withTTL = isExec
	seen := map[string]bool{}
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			if !isExec {
				return nil, errFallback
			}
			return append(rest, args[i+1:]...), nil
		}
		if !strings.HasPrefix(a, "--") {
			if strings.HasPrefix(a, "-") {
				return nil, errFallback // shorthands (-h), or "-"
			}
			if !interspersed {
				if isExec {
					return append(rest, args[i:]...), nil
				}
				return nil, errFallback
			}
			rest = append(rest, a)
			continue
		}
		name, value, hasValue := strings.Cut(a[2:], "=")
		if seen[name] {
			return nil, errFallback // pflag's last-wins is the full CLI's
		}
		seen[name] = true
		takeValue := func() (string, error) {
			if hasValue {
				return value, nil
			}
			if i+1 >= len(args) {
				return "", errFallback
			}
			i++
			return args[i], nil
		}
		switch name {
		case "profile", "repo", "write-repo", "ttl":
			v, err := takeValue()
			if err != nil || v == "" {
				return nil, errFallback
			}
			switch name {
			case "profile":
				c.profile = v
			case "repo":
				c.repos = append(c.repos, v)
				seen[name] = false // repeatable
			case "write-repo":
				c.writeRepo = append(c.writeRepo, v)
				seen[name] = false
			case "ttl":
				if !isExec {
					return nil, errFallback
				}
				d, err := time.ParseDuration(v)
				if err != nil {
					return nil, errFallback
				}
				c.ttl, c.ttlSet = d, true
			}
		case "write", "until-exit", "proxy", "no-public":
			if hasValue || !isExec && name != "write" {
				return nil, errFallback
			}
			switch name {
			case "write":
				c.write = true
			case "until-exit":
				c.untilExit = true
			case "proxy":
				c.proxy = true
			case "no-public":
				c.noPublic = true
			}
		default:
			return nil, errFallback
		}
	}
	return rest, nil
}

// leaseRequest is choiceFlags.leaseRequest: what it would refuse is
// errFallback.
func (c *choice) leaseRequest(purpose int) (*leaseRequest, error) {
	if c.profile != "" && len(c.repos) > 0 {
		return nil, errFallback // cobra: mutually exclusive
	}
	req := &leaseRequest{profile: c.profile, purpose: purpose, access: accessRead}
	if c.profile != "" && profilename.Check(c.profile) != nil {
		return nil, errFallback
	}
	if c.write {
		if len(c.repos) == 0 && len(c.writeRepo) == 0 && c.profile == "" {
			return nil, errFallback
		}
		req.access = accessWrite
	}
	type named struct {
		flag, arg string
		write     bool
	}
	var all []named
	for _, r := range c.repos {
		all = append(all, named{"--repo", r, c.write})
	}
	for _, r := range c.writeRepo {
		all = append(all, named{"--write-repo", r, true})
	}
	for _, n := range all {
		ref, err := hubapi.ParseRepoPattern(n.arg, hubapi.RepoModel)
		if err != nil {
			return nil, errFallback
		}
		pr := repo{typ: hubRepoType(ref.Type), id: ref.ID()}
		if len(all) == 1 && n.flag == "--repo" && !ref.IsPattern() {
			req.repo = &pr
			break
		}
		a := accessRead
		if n.write {
			a = accessWrite
		}
		req.repos = append(req.repos, repoGrant{repo: pr, access: a})
	}
	for _, g := range req.repos {
		if !strings.HasSuffix(g.repo.id, "/*") {
			r := g.repo
			req.repo, req.access = &r, g.access
			break
		}
	}
	req.noPublic = c.noPublic
	if c.withTTL && c.ttlSet && c.ttl == 0 {
		c.untilExit = true
	}
	switch {
	case c.untilExit && c.ttl != 0:
		return nil, errFallback
	case c.untilExit:
		req.untilExit = true
	case c.withTTL && c.ttl != 0:
		if c.ttl < 0 {
			return nil, errFallback
		}
		req.ttl = c.ttl
	}
	ep, err := endpoint()
	if err != nil {
		return nil, err
	}
	req.endpoint = ep
	return req, nil
}

func hubRepoType(t hubapi.RepoType) int {
	switch t {
	case hubapi.RepoDataset:
		return repoTypeDataset
	case hubapi.RepoSpace:
		return repoTypeSpace
	}
	return repoTypeModel
}
