//go:build unix

package front

import (
	"strings"
	"time"
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
	if path, ok := socketPath(); !ok || restricted(path) {
		return 0, errFallback
	}
	h, err := endpoint()
	if err != nil {
		return 0, err
	}
	req, read, ok := readGitRequest(stdinReader{})
	f.stdin = read
	if !ok {
		return 0, errFallback // gitcred's to refuse, or a url= to split
	}
	host, r, outcome := matchGit(req, h)
	switch outcome {
	case gitOther:
		return 0, nil // not our host: let git ask its other helpers
	case gitRefused:
		return 0, errFallback
	}
	if op == "get" {
		out, err := call("Lease", (&leaseRequest{repo: r, purpose: purposeGit, access: accessUnspecified, endpoint: h.url}).append(nil), deadline)
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
		var expiry time.Time
		if resp.expiresAt != nil {
			expiry = resp.expiresAt.asTime()
		}
		if te := resp.tokenExpiresAt; te != nil && (expiry.IsZero() || te.asTime().Before(expiry)) {
			expiry = te.asTime()
		}
		ans, bad := gitAnswer(user, resp.token, expiry)
		if bad != "" {
			f.warn("not answering: " + bad)
		} else if err := emit(f.stdout, string(ans)); err != nil {
			f.warn("not answering: write git credential answer: " + err.Error())
		}
		return 0, nil
	}
	// The daemon fingerprints the password: the front links no SHA-256.
	rr := &reportGitCredentialRequest{repo: r, host: host, operation: gitOperationStore, password: req.password}
	if op == "erase" {
		rr.operation = gitOperationErase
	}
	out, err := call("ReportGitCredential", rr.append(nil), deadline)
	if err != nil {
		return 0, err
	}
	resp, err := decodeReportGitCredentialResponse(out)
	if err != nil {
		return 0, errFallback
	}
	if op == "store" && !resp.known && strings.HasPrefix(req.password, "hf_") {
		f.warn("git offered a Hugging Face token that hfbroker does not hold; it was not stored. To keep it in the keychain, run 'hfbroker import' or 'hfbroker login'")
	}
	if op == "erase" && resp.known {
		name := "REPO"
		if t := repoText(r); t != "" {
			name = t
		}
		f.warn("the server refused the token of profile " + oneLine(resp.profile) + " for " + name)
		f.warn("hint: run 'hfbroker doctor " + name + " --write' to see which token can push there ('hfbroker doctor " + name + "' for fetching)")
	}
	return 0, nil
}

func (f *frontCall) warn(msg string) {
	emit(f.stderr, "hfbroker git-credential: ", msg, "\n")
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
