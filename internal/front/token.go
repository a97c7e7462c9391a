//go:build unix

package front

import "time"

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
	if err := emit(f.stdout, resp.token, "\n"); err != nil {
		emit(f.stderr, "hfbroker: error: ", oneLine(err.Error()), "\n")
		return 1, nil
	}
	return 0, nil
}
