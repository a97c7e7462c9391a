//go:build unix

package front

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hfbroker/hfbroker/internal/gitcred"
	"github.com/hfbroker/hfbroker/internal/socket"
)

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
	// Through a forwarded or restricted socket git may go through the
	// forwarded proxy, with lease tokens for its port only: the full CLI's
	// rules (internal/cli/gitcredential.go).
	if path, err := socket.DefaultPath(); err != nil || socket.Restricted(path, os.Getenv) {
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
		out, err := call("Lease", (&leaseRequest{repo: r, purpose: purposeGit, access: accessUnspecified, endpoint: ep}).append(nil), deadline)
		if err != nil {
			return 0, err
		}
		resp, err := decodeLeaseResponse(out)
		if err != nil || resp.proxyEndpoint != "" {
			// A lease token is for the proxy, never for the Hub itself.
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
	out, err := call("ReportGitCredential", rr.append(nil), deadline)
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
