package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hfbroker/hfbroker/internal/client"
	"github.com/hfbroker/hfbroker/internal/gitcred"
	"github.com/hfbroker/hfbroker/internal/hubapi"
	"github.com/hfbroker/hfbroker/internal/secret"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// gitDaemonTimeout bounds how long git waits on us: git waits on a helper
// forever, so a stuck daemon must not hang a clone.
const gitDaemonTimeout = 5 * time.Second

// newCmdGitCredential is git's credential helper: git runs it with get,
// store or erase and the request on stdin.
//
// Only get answers, and only for the configured endpoint's host. store and
// erase never touch the keychain: a failed push must not log anyone out (gh
// makes the same choice), and git must not be able to plant a token.
func newCmdGitCredential(f *Factory, runF func(*GitCredentialOptions) error) *cobra.Command {
	opts := &GitCredentialOptions{IO: f.IO, Daemon: f.Daemon, Endpoint: f.Endpoint, Env: f.Env}
	return &cobra.Command{
		Use:    "git-credential get|store|erase",
		Short:  "git credential helper (set up with 'hfbroker setup-git')",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Op = args[0]
			if runF != nil {
				return runF(opts)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), gitDaemonTimeout)
			defer cancel()
			gitCredentialRun(ctx, opts)
			// Always exit 0: a non-zero exit makes git print noise and
			// does not stop it trying other helpers anyway.
			return nil
		},
	}
}

// GitCredentialOptions are git-credential's inputs.
type GitCredentialOptions struct {
	IO     *IOStreams
	Daemon DaemonFunc
	// Endpoint resolves the Hub endpoint (HF_ENDPOINT, config.toml).
	Endpoint func() (string, error)
	// Env reads the environment (HFBROKER_FORWARD in an 'hfbroker ssh' session).
	Env func(string) string
	// Op is git's operation: get, store or erase.
	Op string
}

func gitCredentialRun(ctx context.Context, opts *GitCredentialOptions) {
	op := opts.Op
	warn := func(format string, args ...any) {
		fmt.Fprintf(opts.IO.ErrOut, "hfbroker git-credential: "+format+"\n", args...)
	}
	switch op {
	case "get", "store", "erase":
	default:
		return // git: unknown operations are silently ignored
	}
	req, err := gitcred.Parse(opts.IO.In)
	if err != nil {
		warn("refused a malformed request: %v", err)
		return
	}
	endpoint, err := opts.Endpoint()
	if err != nil {
		warn("%v", err)
		return
	}
	epURL, err := url.Parse(endpoint)
	if err != nil {
		warn("bad endpoint %q", endpoint)
		return
	}
	target, err := gitcred.Match(req, epURL)
	// In an 'hfbroker ssh' session git reaches the Hub through the
	// forwarded proxy on this machine's loopback (ssh.go points it there):
	// the request names that port, and the lease says whether it is ours.
	proxied := false
	if errors.Is(err, gitcred.ErrNoMatch) && opts.Env(client.ForwardEnv) != "" && req.Protocol == "http" {
		if u := (&url.URL{Scheme: "http", Host: req.Host}); hubapi.IsLoopback(u.Hostname()) {
			target, err = gitcred.Match(req, u)
			proxied = true
		}
	}
	if err != nil {
		if errors.Is(err, gitcred.ErrNoMatch) {
			return // not our host: let git ask its other helpers
		}
		warn("refused: %v", err)
		return
	}
	var repo *pb.Repo
	if target.Repo != nil {
		repo = &pb.Repo{Type: repoTypeProto(target.Repo.Type), Id: target.Repo.ID()}
	}
	c, err := opts.Daemon(ctx)
	if err != nil {
		warn("%v", err)
		return
	}
	defer c.Close()
	switch {
	case op == "get":
		gitGet(ctx, opts, c, repo, proxied, target.Host, warn)
	case proxied:
		// A lease token: nothing to keep, and nothing to forget that its
		// lease's end does not already take away.
	default:
		gitReport(ctx, opts, c, op, req, repo, target.Host, warn)
	}
}

// gitGet answers git's get. host is the one git asked for: the Hub's, or,
// when proxied, the forwarded proxy's. A lease token goes only to the proxy
// that issued it and a real token never to a proxy, so an answer of the
// wrong kind for host is revoked unsaid.
func gitGet(ctx context.Context, opts *GitCredentialOptions, c Daemon, repo *pb.Repo, proxied bool, host string, warn func(string, ...any)) {
	resp, err := c.Lease(ctx, &pb.LeaseRequest{
		Repo:     repo,
		Purpose:  pb.Purpose_PURPOSE_GIT,
		Access:   pb.Access_ACCESS_UNSPECIFIED, // the daemon prefers a token that can push
		Endpoint: mustEndpoint(opts.Endpoint),
	})
	if err != nil {
		_, msg, hint, reasons := fromStatusErr(err)
		warn("no token for this repo: %s", oneLine(msg))
		for _, r := range reasons {
			warn("  %s", oneLine(r))
		}
		if hint != "" {
			warn("hint: %s", oneLine(hint))
		}
		return
	}
	if ep := resp.GetProxyEndpoint(); proxied || ep != "" {
		u, err := url.Parse(ep)
		if !proxied || ep == "" || err != nil || !strings.EqualFold(u.Host, host) {
			_, _ = c.RevokeLease(ctx, &pb.RevokeLeaseRequest{Id: resp.GetLeaseId()})
			fwd := oneLine(opts.Env(client.ForwardEnv))
			switch {
			case !proxied:
				warn("this socket is forwarded from %s and gives git lease tokens for its proxy only: run git in the 'hfbroker ssh %s' session, which points git at %s", fwd, fwd, ep)
				warn("hint: or reconnect with 'hfbroker ssh --allow-env %s' to give git the real token", fwd)
			case ep == "":
				warn("this socket is forwarded from %s with --allow-env: git gets the real token for the Hub itself, not for %s", fwd, host)
			default:
				warn("%s is not the proxy forwarded from %s (%s): run git in its 'hfbroker ssh' session", host, fwd, ep)
			}
			return
		}
	}
	user := resp.GetUser()
	if user == "" {
		user = "hf_user" // the Hub ignores the user name; huggingface_hub sends this one
	}
	ans := gitcred.Answer{Username: user, Password: resp.GetToken()}
	if resp.GetExpiresAt() != nil {
		ans.PasswordExpiry = resp.GetExpiresAt().AsTime()
	}
	// Issue 14: an OAuth access token dies at its own expiry; git must not
	// cache it past that (the daemon already ends the lease there).
	if te := resp.GetTokenExpiresAt(); te != nil && (ans.PasswordExpiry.IsZero() || te.AsTime().Before(ans.PasswordExpiry)) {
		ans.PasswordExpiry = te.AsTime()
	}
	if err := gitcred.WriteAnswer(opts.IO.Out, ans); err != nil {
		warn("not answering: %v", err)
	}
}

func gitReport(ctx context.Context, opts *GitCredentialOptions, c Daemon, op string, req *gitcred.Request, repo *pb.Repo, host string, warn func(string, ...any)) {
	in := &pb.ReportGitCredentialRequest{Repo: repo, Host: host, Operation: pb.GitOperation_GIT_OPERATION_STORE}
	if op == "erase" {
		in.Operation = pb.GitOperation_GIT_OPERATION_ERASE
	}
	if req.Password != "" {
		in.Fingerprint = secret.Fingerprint(req.Password)
	}
	resp, err := c.ReportGitCredential(ctx, in)
	if err != nil {
		warn("%v", oneLine(err.Error()))
		return
	}
	if op == "store" && !resp.GetKnown() && strings.HasPrefix(req.Password, "hf_") {
		warn("git offered a Hugging Face token that hfbroker does not hold; it was not stored. To keep it in the keychain, run 'hfbroker import' or 'hfbroker login'")
	}
	// git erases a credential the server refused (a push with a token that
	// can only read, most often) and shows the helper's stderr: say which
	// command explains it, or the push fails without a word from us. An
	// erase of a token hfbroker does not hold (huggingface_hub's logout
	// sends one with no password) is none of our business.
	if op == "erase" && resp.GetKnown() {
		name := "REPO"
		if t := repoText(repo); t != "" {
			name = t
		}
		warn("the server refused the token of profile %s for %s", oneLine(resp.GetProfile()), name)
		// git does not tell a helper whether it was pushing or fetching.
		warn("hint: run 'hfbroker doctor %s --write' to see which token can push there ('hfbroker doctor %s' for fetching)", name, name)
	}
}

func mustEndpoint(endpoint func() (string, error)) string {
	ep, _ := endpoint()
	return ep
}

func repoTypeProto(t string) pb.RepoType {
	switch t {
	case gitcred.TypeDataset:
		return pb.RepoType_REPO_TYPE_DATASET
	case gitcred.TypeSpace:
		return pb.RepoType_REPO_TYPE_SPACE
	}
	return pb.RepoType_REPO_TYPE_MODEL
}

// fromStatusErr is fromStatus for any error.
func fromStatusErr(err error) (int, string, string, []string) {
	if ue, ok := errors.AsType[*client.UnreachableError](err); ok {
		return ExitUnreachable, ue.Error(), ue.Hint(), nil
	}
	if st, ok := statusOf(err); ok {
		return fromStatus(st)
	}
	return ExitError, err.Error(), "", nil
}
