//go:build unix

package front

import (
	"syscall"
	"time"
)

// shortenedNote is the full CLI's note (internal/cli/loginweb.go) for a lease
// cut to its OAuth access token's expiry.
func shortenedNote(resp *leaseResponse) string {
	var exp time.Time
	if resp.expiresAt != nil {
		exp = resp.expiresAt.asTime()
	} else {
		exp = time.Unix(0, 0).UTC() // (*timestamppb.Timestamp)(nil).AsTime()
	}
	return "hfbroker: note: the lease ends " + exp.UTC().Format("2006-01-02 15:04:05 UTC") +
		", when profile " + resp.profile + "'s access token expires (use 'exec --proxy' for longer jobs)"
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
		emit(f.stderr, shortenedNote(resp), "\n")
	}
	return f.printToken(resp.token), nil
}

// exitBrokenPipe is the status a shell reports for a process that SIGPIPE
// ended (128+13), as os.Stdout ends one whose reader has gone.
const exitBrokenPipe = 141

// printToken writes the token and its newline to stdout. A reader that has
// gone (`hfbroker token | true`) ends it silently, as os.Stdout would with
// SIGPIPE; any other failure is said.
func (f *frontCall) printToken(token string) int {
	err := emit(f.stdout, token, "\n")
	switch {
	case err == nil:
		return 0
	case err == syscall.EPIPE:
		return exitBrokenPipe
	}
	emit(f.stderr, "hfbroker: error: ", oneLine(err.Error()), "\n")
	return 1
}
