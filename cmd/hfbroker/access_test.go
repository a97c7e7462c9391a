//go:build unix

package main

import (
	"cmp"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/hfbroker/hfbroker/internal/hub"
	"github.com/hfbroker/hfbroker/internal/hubtest"
	"github.com/hfbroker/hfbroker/internal/secret"
)

// The access-*.txtar scripts prove issue 3, "know what each token can do",
// end to end: they build the Hub world each story needs (users, org roles,
// token kinds, org policies, gated repos, rate limits, redirects) with the
// commands below, then run the real hfbroker against it.
func init() {
	for name, cmd := range map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"hub-user":         cmdHubUser,
		"hub-org":          cmdHubOrg,
		"hub-member":       cmdHubMember,
		"hub-repo":         cmdHubRepo,
		"hub-token":        cmdHubToken,
		"hub-approve":      cmdHubApprove,
		"hub-revoke-in":    cmdHubRevokeIn,
		"hub-grant-gated":  cmdHubGrantGated,
		"hub-ratelimit":    cmdHubRateLimit,
		"hub-redirect":     cmdHubRedirect,
		"hub-calls":        cmdHubCalls,
		"other-host":       cmdOtherHost,
		"other-host-calls": cmdOtherHostCalls,
		"unenv":            cmdUnenv,
	} {
		extraCmds[name] = cmd
	}
}

// hub-user NAME [FULLNAME]: add a user to the fake Hub.
func cmdHubUser(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: hub-user NAME [FULLNAME]")
	}
	full := args[0]
	if len(args) == 2 {
		full = args[1]
	}
	scriptHub(ts).AddUser(args[0], full)
}

// hub-org NAME [only-fine-grained] [require-approval]: add an organization,
// optionally with a token policy.
func cmdHubOrg(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: hub-org NAME [only-fine-grained] [require-approval]")
	}
	spec := hubtest.OrgSpec{Name: args[0]}
	for _, a := range args[1:] {
		switch a {
		case "only-fine-grained":
			spec.OnlyFineGrained = true
		case "require-approval":
			spec.RequireApproval = true
		default:
			ts.Fatalf("hub-org: unknown option %q", a)
		}
	}
	scriptHub(ts).AddOrg(spec)
}

// hub-member ORG USER ROLE: give USER the role (admin, write, contributor,
// read, no_access) in ORG.
func cmdHubMember(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: hub-member ORG USER ROLE")
	}
	scriptHub(ts).AddMember(args[0], args[1], args[2])
}

// hub-repo ID [private] [gated=manual|auto] [approved=USER,USER]: add a repo
// ("acme/llm", "datasets/acme/corpus").
func cmdHubRepo(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: hub-repo ID [private] [gated=manual|auto] [approved=USER,...]")
	}
	spec := hubtest.RepoSpec{ID: args[0]}
	for _, a := range args[1:] {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "private":
			spec.Private = true
		case "gated":
			spec.Gated = hub.Gated(v)
		case "approved":
			spec.Approved = strings.Split(v, ",")
		default:
			ts.Fatalf("hub-repo: unknown option %q", a)
		}
	}
	scriptHub(ts).AddRepo(spec)
}

// hub-token VAR USER ROLE [name=DISPLAY] [scope=TYPE:NAME:PERM,PERM]...
// [global=PERM,PERM] [gated] [restrict=ORG:R,R]...: create a token on the
// fake Hub; $VAR is its value and $VAR_FP its fingerprint, for goldens.
func cmdHubToken(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: hub-token VAR USER ROLE [name=DISPLAY] [scope=TYPE:NAME:PERMS]... [global=PERMS] [gated] [restrict=ORG:R,R]...")
	}
	spec := hubtest.TokenSpec{Role: args[2]}
	for _, a := range args[3:] {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "name":
			spec.DisplayName = v
		case "scope":
			// TYPE:NAME:PERMS, NAME being "ns/name" for a repo.
			parts := strings.SplitN(v, ":", 3)
			if len(parts) != 3 {
				ts.Fatalf("hub-token: scope wants TYPE:NAME:PERM,PERM, got %q", v)
			}
			spec.Scoped = append(spec.Scoped, hubtest.Scope{Type: parts[0], Name: parts[1], Permissions: strings.Split(parts[2], ",")})
		case "global":
			spec.Global = strings.Split(v, ",")
		case "gated":
			spec.CanReadGatedRepos = true
		case "restrict":
			org, rs, ok := strings.Cut(v, ":")
			if !ok {
				ts.Fatalf("hub-token: restrict wants ORG:R,R, got %q", v)
			}
			if spec.Restrictions == nil {
				spec.Restrictions = map[string][]string{}
			}
			spec.Restrictions[org] = append(spec.Restrictions[org], strings.Split(rs, ",")...)
		default:
			ts.Fatalf("hub-token: unknown option %q", a)
		}
	}
	tok := scriptHub(ts).AddToken(args[1], spec)
	ts.Setenv(args[0], tok)
	ts.Setenv(args[0]+"_FP", secret.Token(tok).Fingerprint())
}

// hub-approve VAR ORG: an admin of ORG approves the token under its policy.
func cmdHubApprove(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: hub-approve VAR ORG")
	}
	scriptHub(ts).ApproveToken(ts.Getenv(args[0]), args[1])
}

// hub-revoke-in VAR ORG: an admin of ORG revokes the token for ORG only.
func cmdHubRevokeIn(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: hub-revoke-in VAR ORG")
	}
	scriptHub(ts).RevokeForOrg(ts.Getenv(args[0]), args[1])
}

// hub-grant-gated REPO USER: the gated repo's owner grants USER's request.
func cmdHubGrantGated(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: hub-grant-gated REPO USER")
	}
	scriptHub(ts).GrantGatedAccess(args[0], args[1])
}

// hub-ratelimit PATH SECONDS: PATH answers 429 for SECONDS (0 lifts it).
func cmdHubRateLimit(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: hub-ratelimit PATH SECONDS")
	}
	secs, err := strconv.Atoi(args[1])
	ts.Check(err)
	scriptHub(ts).RateLimit(args[0], time.Duration(secs)*time.Second)
}

// hub-redirect PATH URL: PATH answers 307 to URL.
func cmdHubRedirect(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: hub-redirect PATH URL")
	}
	scriptHub(ts).Redirect(args[0], args[1])
}

// hub-calls PATH N: the fake Hub has answered exactly N requests for PATH.
func cmdHubCalls(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: hub-calls PATH N")
	}
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	if got := scriptHub(ts).Calls(args[0]); got != want {
		ts.Fatalf("the Hub saw %d request(s) for %s, want %d", got, args[0], want)
	}
}

// otherHost is a second HTTP server, on another port of 127.0.0.1, that
// records every request it gets: where a redirect from the Hub would deliver
// a token if the client followed it with the Authorization header.
type otherHost struct {
	srv *httptest.Server

	mu    sync.Mutex
	calls int
	auths []string // Authorization headers seen
}

// otherHosts maps each script's fake Hub to its second host: a script has
// no place of its own to keep a value set by a command.
var otherHosts sync.Map // *hubtest.Hub -> *otherHost

// other-host VAR: start the second host and set $VAR to its URL.
func cmdOtherHost(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: other-host VAR")
	}
	oh := &otherHost{}
	oh.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		oh.mu.Lock()
		oh.calls++
		if a := r.Header.Get("Authorization"); a != "" {
			oh.auths = append(oh.auths, a)
		}
		oh.mu.Unlock()
		// Answer as a Hub would, so that a client that follows the
		// redirect has every reason to believe it.
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"type":"user","name":"mallory","orgs":[],"auth":{"type":"access_token","accessToken":{"displayName":"x","role":"write"}}}`)
	}))
	h := scriptHub(ts)
	ts.Defer(func() {
		oh.srv.Close()
		otherHosts.Delete(h)
	})
	otherHosts.Store(h, oh)
	ts.Setenv(args[0], oh.srv.URL)
}

// other-host-calls N: the second host got N requests, none of them with an
// Authorization header (and so none with a token).
func cmdOtherHostCalls(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: other-host-calls N")
	}
	v, ok := otherHosts.Load(scriptHub(ts))
	if !ok {
		ts.Fatalf("other-host-calls: run other-host first")
	}
	oh := v.(*otherHost)
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	oh.mu.Lock()
	defer oh.mu.Unlock()
	if oh.calls != want {
		ts.Fatalf("the other host got %d request(s), want %d", oh.calls, want)
	}
	if len(oh.auths) > 0 {
		ts.Fatalf("the other host got %d request(s) with an Authorization header", len(oh.auths))
	}
}

// unenv FILE OUT VAR...: write FILE (stdout, stderr or a file) to OUT with
// every value of the named variables replaced by $VAR. Goldens then compare
// with plain `cmp OUT want.txt`, which HFBROKER_UPDATE_GOLDEN=1 can rewrite
// (testscript updates cmp's files but not cmpenv's), while the want files
// still read $HF_ENDPOINT for the fake Hub's random port.
func cmdUnenv(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: unenv FILE OUT VAR...")
	}
	text := ts.ReadFile(args[0])
	vars := slices.Clone(args[2:])
	// Longest values first, so that one value inside another is not cut.
	slices.SortFunc(vars, func(a, b string) int { return cmp.Compare(len(ts.Getenv(b)), len(ts.Getenv(a))) })
	for _, v := range vars {
		val := ts.Getenv(v)
		if val == "" {
			ts.Fatalf("unenv: $%s is empty", v)
		}
		text = strings.ReplaceAll(text, val, "$"+v)
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(text), 0o600))
}
