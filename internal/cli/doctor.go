package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hfbroker/hfbroker/internal/config"

	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// DoctorOptions are doctor's inputs.
type DoctorOptions struct {
	IO     *IOStreams
	Daemon DaemonFunc
	// Endpoint resolves the Hub endpoint; Env is the environment (where
	// plaintext copies of tokens may be left, as import finds them).
	Endpoint func() (string, error)
	Env      config.Env
	// GitConfig runs "git config ARGS…" and returns its stdout; nil runs git.
	GitConfig func(args ...string) (string, error)
	Repo      string
	Type      string
	Write     bool
	JSON      bool
	NoHub     bool
}

func newCmdDoctor(f *Factory, runF func(*DoctorOptions) error) *cobra.Command {
	opts := &DoctorOptions{IO: f.IO, Daemon: f.Daemon, Endpoint: f.Endpoint, Env: f.Env}
	cmd := &cobra.Command{
		Use:   "doctor [REPO] [--write] [--type model|dataset|space] [--json]",
		Short: "Explain what each token can do, and what to do when none fits",
		Long: `For each profile: who the token belongs to, its role and scopes, the user's
org roles and restrictions. With a repo: whether each token can read (or, with
--write, write) it — hfbroker's own verdict from the Hub metadata, then the
Hub's auth-check — and what to do when it cannot. Also lists plaintext copies
of tokens left on disk or in the environment.

Exits 4 when a repo is given and no token fits.`,
		Example: `  hfbroker doctor
  hfbroker doctor acme/llm --write
  hfbroker doctor datasets/acme/corpus --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if args[0] == "" {
					return errorWithHint(ExitUsage, repoHint, "REPO is empty")
				}
				opts.Repo = args[0]
			}
			if runF != nil {
				return runF(opts)
			}
			return doctorRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Write, "write", false, "check write access")
	cmd.Flags().StringVar(&opts.Type, "type", "", "repo type when REPO has no prefix: model, dataset or space")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&opts.NoHub, "no-hub", false, "skip the Hub's auth-check")
	return cmd
}

type doctorJSON struct {
	Endpoint  string              `json:"endpoint"`
	Repo      string              `json:"repo,omitempty"`
	Access    string              `json:"access,omitempty"`
	Chosen    string              `json:"chosen,omitempty"`
	Route     string              `json:"route,omitempty"`
	Refusal   string              `json:"refusal,omitempty"`
	Rule      string              `json:"rule,omitempty"`
	Backend   string              `json:"backend,omitempty"`
	Locked    bool                `json:"locked,omitempty"`
	Profiles  []doctorProfileJSON `json:"profiles"`
	Plaintext []plaintextJSON     `json:"plaintext"`
}

type doctorProfileJSON struct {
	whoamiJSON
	Local  *verdictJSON `json:"local,omitempty"`
	Hub    *hubJSON     `json:"hub,omitempty"`
	Expiry *expiryJSON  `json:"expiry,omitempty"`
	// Rejected: the Hub last answered 401 for the token; no lease hands it
	// out.
	Rejected bool `json:"rejected,omitempty"`
}

// expiryJSON is when a profile's token expires (issue 14).
type expiryJSON struct {
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	OAuth      bool       `json:"oauth"`
	NeedsLogin bool       `json:"needs_login,omitempty"`
	Warning    string     `json:"warning,omitempty"`
}

// expiryWarnWithin is how close an expiry doctor warns about.
const expiryWarnWithin = 7 * 24 * time.Hour

// profileExpiryCheck says when p's token expires and warns when it cannot
// be refreshed any more, or will die within a week without a refresh.
func profileExpiryCheck(p *pb.Profile, now time.Time) *expiryJSON {
	if p.GetExpiresAt() == nil && !p.GetNeedsLogin() {
		return nil
	}
	e := &expiryJSON{OAuth: p.GetOauth(), NeedsLogin: p.GetNeedsLogin()}
	if p.GetExpiresAt() != nil {
		t := p.GetExpiresAt().AsTime()
		e.ExpiresAt = &t
	}
	switch {
	case p.GetNeedsLogin():
		e.Warning = fmt.Sprintf("the Hub refused its refresh token: run 'hfbroker login --web --name %s'", p.GetName())
	case e.ExpiresAt == nil:
	case p.GetOauth() && !now.Before(*e.ExpiresAt):
		e.Warning = "its access token has expired and was not refreshed yet: check the daemon log and your network"
	case !p.GetOauth() && !now.Before(*e.ExpiresAt):
		e.Warning = fmt.Sprintf("it has expired: create a new token at %s/settings/tokens and run 'hfbroker login --name %s'", p.GetEndpoint(), p.GetName())
	case !p.GetOauth() && e.ExpiresAt.Sub(now) < expiryWarnWithin:
		e.Warning = fmt.Sprintf("it expires within 7 days and cannot be refreshed: create a new token at %s/settings/tokens", p.GetEndpoint())
	}
	return e
}

type verdictJSON struct {
	Allowed bool   `json:"allowed"`
	Code    string `json:"code"`
	Reason  string `json:"reason,omitempty"`
	Action  string `json:"action,omitempty"`
	Assumed string `json:"assumed,omitempty"`
}

type hubJSON struct {
	Allowed bool   `json:"allowed"`
	Status  int32  `json:"status,omitempty"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

type plaintextJSON struct {
	Path        string `json:"path"`
	Line        int    `json:"line,omitempty"`
	Kind        string `json:"kind"`
	Fingerprint string `json:"fingerprint"`
	Profile     string `json:"profile,omitempty"`
}

func doctorRun(ctx context.Context, opts *DoctorOptions) error {
	if opts.Repo == "" && (opts.Type != "" || opts.Write) {
		return errorWithHint(ExitUsage, "add a REPO, e.g. 'hfbroker doctor acme/llm --write'", "--type and --write need a REPO")
	}
	if opts.Repo != "" {
		if _, err := parseRepoArg("REPO", opts.Repo, opts.Type); err != nil {
			return err
		}
	}
	endpoint, err := opts.Endpoint()
	if err != nil {
		return err
	}
	var req *pb.LeaseRequest
	if opts.Repo != "" {
		ch := choiceFlags{Repos: []string{opts.Repo}, RepoType: opts.Type, Write: opts.Write}
		if req, err = ch.leaseRequest(opts.Endpoint, pb.Purpose_PURPOSE_TOKEN); err != nil {
			return err
		}
	}
	out := doctorJSON{Endpoint: endpoint, Profiles: []doctorProfileJSON{}, Plaintext: []plaintextJSON{}}
	noneFits := false
	err = withDaemon(ctx, opts.Daemon, func(c Daemon) error {
		st, err := c.Status(ctx, &pb.StatusRequest{})
		if err != nil {
			return err
		}
		out.Backend, out.Locked = st.GetBackend(), st.GetLocked()
		list, err := c.ListProfiles(ctx, &pb.ListProfilesRequest{})
		if err != nil {
			return err
		}
		checks := map[string]*pb.ProfileCheck{}
		if req != nil {
			out.Repo, out.Access = repoText(req.GetRepo()), accessText(req.GetAccess())
			resp, err := c.Check(ctx, &pb.CheckRequest{Repo: req.GetRepo(), Access: req.GetAccess(), AskHub: !opts.NoHub, Endpoint: endpoint})
			if err != nil {
				return err
			}
			out.Chosen, out.Route, out.Refusal = resp.GetChosen(), resp.GetRoute(), resp.GetRefusal()
			out.Rule = choiceRule(req.GetAccess())
			noneFits = out.Chosen == ""
			for _, ch := range resp.GetChecks() {
				checks[ch.GetProfile()] = ch
			}
		}
		fps := map[string]string{}
		for _, p := range list.GetProfiles() {
			fps[p.GetFingerprint()] = p.GetName()
			if req != nil && checks[p.GetName()] == nil {
				continue // bound to another endpoint
			}
			w, err := c.Whoami(ctx, &pb.WhoamiRequest{Profile: p.GetName()})
			var pj doctorProfileJSON
			if err != nil {
				pj.Profile, pj.Endpoint, pj.Fingerprint = p.GetName(), p.GetEndpoint(), p.GetFingerprint()
			} else {
				pj.whoamiJSON = whoamiToJSON(w)
			}
			pj.Expiry = profileExpiryCheck(p, time.Now())
			pj.Rejected = p.GetRejected()
			if ch := checks[p.GetName()]; ch != nil {
				pj.Local = &verdictJSON{Allowed: ch.GetAllowed(), Code: ch.GetCode(), Reason: ch.GetReason(), Action: ch.GetAction(), Assumed: ch.GetAssumed()}
				if ch.GetHubChecked() {
					pj.Hub = &hubJSON{Allowed: ch.GetHubAllowed(), Status: ch.GetHubStatus(), Code: ch.GetHubCode(), Message: ch.GetHubMessage()}
				}
			}
			out.Profiles = append(out.Profiles, pj)
		}
		if left := plaintextLeftovers(opts, endpoint, fps); len(left) > 0 {
			out.Plaintext = left
		}
		return nil
	})
	if err != nil {
		return err
	}
	if opts.JSON {
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		printDoctor(opts.IO.Out, out)
	}
	if noneFits {
		return exitCodeError{ExitDenied}
	}
	return nil
}

func whoamiToJSON(w *pb.WhoamiResponse) whoamiJSON {
	j := whoamiJSON{Profile: w.GetProfile().GetName(), User: w.GetUser(), Fullname: w.GetFullname(),
		Endpoint: w.GetProfile().GetEndpoint(), TokenName: w.GetTokenDisplayName(), TokenRole: w.GetTokenRole(),
		Fingerprint: w.GetProfile().GetFingerprint(), Orgs: []orgJSON{}, GlobalPermissions: w.GetGlobalPermissions(),
		CanReadGatedRepos: w.GetCanReadGatedRepos()}
	for _, o := range w.GetOrgs() {
		j.Orgs = append(j.Orgs, orgJSON{o.GetName(), o.GetRole(), o.GetSecurityRestrictions()})
	}
	for _, s := range w.GetScopes() {
		j.Scopes = append(j.Scopes, scopeJSON{s.GetEntityType(), s.GetEntityName(), s.GetPermissions()})
	}
	if w.GetExpiresAt() != nil {
		t := w.GetExpiresAt().AsTime()
		j.ExpiresAt = &t
	}
	return j
}

func printDoctor(w io.Writer, d doctorJSON) {
	fmt.Fprintf(w, "endpoint: %s\n", d.Endpoint)
	switch {
	case d.Backend != "" && d.Locked:
		fmt.Fprintf(w, "store:    %s (locked: run 'hfbroker unlock')\n", d.Backend)
	case d.Backend != "":
		fmt.Fprintf(w, "store:    %s\n", d.Backend)
	}
	if len(d.Profiles) == 0 {
		fmt.Fprintln(w, "\nNo profiles. Run 'hfbroker login' to store a token.")
	}
	for _, p := range d.Profiles {
		fmt.Fprintln(w)
		who := p.User
		if who == "" {
			who = "not verified"
		}
		tok := roleText(p.TokenRole)
		if tok == "" {
			tok = "unknown"
		}
		fmt.Fprintf(w, "%s: %s, %s token %q (fingerprint %s)\n", p.Profile, who, tok, p.TokenName, p.Fingerprint)
		for _, s := range p.Scopes {
			fmt.Fprintf(w, "  scope:  %s %s: %s\n", s.EntityType, s.EntityName, strings.Join(s.Permissions, ", "))
		}
		if len(p.GlobalPermissions) > 0 {
			fmt.Fprintf(w, "  global: %s\n", strings.Join(p.GlobalPermissions, ", "))
		}
		if p.CanReadGatedRepos {
			fmt.Fprintln(w, "  gated:  can read public gated repos you were granted")
		}
		for _, o := range p.Orgs {
			line := fmt.Sprintf("  org:    %s, role %s", o.Name, dash(o.Role))
			if len(o.SecurityRestrictions) > 0 {
				line += ", restricted: " + strings.Join(o.SecurityRestrictions, ", ")
			}
			fmt.Fprintln(w, line)
		}
		if e := p.Expiry; e != nil {
			if e.ExpiresAt != nil {
				line := "  expires: " + e.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC")
				if e.OAuth && !e.NeedsLogin {
					line += " (hfbrokerd refreshes it)"
				}
				fmt.Fprintln(w, line)
			}
			if e.Warning != "" {
				fmt.Fprintf(w, "  warning: %s\n", e.Warning)
			}
		}
		if p.Rejected {
			fmt.Fprintf(w, "  warning: the Hub rejected this token (revoked or deleted): create a new one at %s/settings/tokens and run 'hfbroker login --name %s'\n", p.Endpoint, p.Profile)
		}
		if p.Local != nil {
			verdict := "allowed"
			if !p.Local.Allowed {
				verdict = "denied: " + p.Local.Reason
			}
			fmt.Fprintf(w, "  %s %s: %s\n", d.Access, d.Repo, verdict)
			if p.Local.Assumed != "" {
				fmt.Fprintf(w, "  note:   %s\n", p.Local.Assumed)
			}
			if p.Hub != nil {
				hv := "allowed"
				if !p.Hub.Allowed {
					hv = fmt.Sprintf("denied (%d", p.Hub.Status)
					if p.Hub.Code != "" {
						hv += " " + p.Hub.Code
					}
					hv += ")"
					if p.Hub.Message != "" {
						hv += ": " + p.Hub.Message
					}
				}
				fmt.Fprintf(w, "  hub:    %s\n", hv)
			}
			if !p.Local.Allowed && p.Local.Action != "" {
				fmt.Fprintf(w, "  action: %s\n", p.Local.Action)
			} else if p.Local.Allowed && p.Hub != nil && !p.Hub.Allowed {
				fmt.Fprintf(w, "  action: %s\n", hubAction(p.Hub, d, p.Profile))
			}
		}
	}
	if d.Repo != "" {
		fmt.Fprintln(w)
		switch {
		case d.Chosen != "" && d.Route != "":
			fmt.Fprintf(w, "hfbroker chooses %q to %s %s (route %q in config.toml)\n", d.Chosen, d.Access, d.Repo, d.Route)
		case d.Chosen != "":
			fmt.Fprintf(w, "hfbroker chooses %q to %s %s\n", d.Chosen, d.Access, d.Repo)
		case d.Refusal != "":
			fmt.Fprintf(w, "hfbroker refuses: %s\n", oneLine(d.Refusal))
		default:
			fmt.Fprintf(w, "no stored token can %s %s\n", d.Access, d.Repo)
		}
		fmt.Fprintf(w, "rule:     %s\n", d.Rule)
	}
	if len(d.Plaintext) > 0 {
		fmt.Fprintln(w, "\nplaintext copies of tokens (move them into hfbroker with 'hfbroker import --remove-plaintext'):")
		for _, p := range d.Plaintext {
			loc := p.Path
			if p.Line > 0 {
				loc = fmt.Sprintf("%s:%d", p.Path, p.Line)
			}
			owner := ""
			if p.Profile != "" {
				owner = ", same token as profile " + p.Profile
			}
			fmt.Fprintf(w, "  %s (%s token, fingerprint %s%s)\n", loc, p.Kind, p.Fingerprint, owner)
		}
	}
}

// choiceRule says how hfbroker chooses a token when no profile is named, as
// ARCHITECTURE.md's access model orders them.
func choiceRule(a pb.Access) string {
	const route = "; a config route picks its profile only if that token can do it"
	if a == pb.Access_ACCESS_WRITE {
		return "least privilege for a write: a fine-grained token scoped to the repo, then one scoped to its namespace, then a classic write token" + route
	}
	return "least privilege for a read: first the tokens that cannot write to the repo (fine-grained read-only scoped to the repo, then to its namespace, then a classic read token), then those that can, in the write order (fine-grained scoped to the repo, to the namespace, classic write)" + route
}

// plaintextLeftovers lists the plaintext copies `hfbroker import` would
// find: huggingface_hub's token files, git's credential-store files for the
// endpoint's host, and HF_TOKEN / HUGGING_FACE_HUB_TOKEN.
func plaintextLeftovers(opts *DoctorOptions, endpoint string, fps map[string]string) []plaintextJSON {
	var out []plaintextJSON
	found, _, _ := findPlaintext(opts.Env, opts.GitConfig, opts.Env("HOME"), hostOf(endpoint))
	for _, ft := range found {
		for _, c := range ft.copies {
			loc := c.path
			line := 0
			switch c.kind {
			case copyStoredTokens:
				loc += " [" + c.section + "]"
			case copyGitCredential:
				line = c.line + 1
			}
			out = append(out, plaintextJSON{Path: loc, Line: line, Kind: tokenKind(ft.token.Reveal()),
				Fingerprint: ft.token.Fingerprint(), Profile: fps[ft.token.Fingerprint()]})
		}
	}
	return out
}

func tokenKind(s string) string {
	for _, p := range []string{"hf_oauth_", "hf_jwt_", "api_org_", "hf_", "api_"} {
		if strings.HasPrefix(s, p) {
			return strings.TrimSuffix(p, "_")
		}
	}
	return "unknown"
}

func hostOf(endpoint string) string {
	s := strings.TrimPrefix(strings.TrimPrefix(endpoint, "https://"), "http://")
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	return s
}

// hubAction says what to do when hfbroker's verdict allowed the request but
// the Hub's auth-check did not: the Hub is authoritative.
func hubAction(h *hubJSON, d doctorJSON, profile string) string {
	switch h.Status {
	case 401:
		return fmt.Sprintf("the Hub no longer accepts this token: create a new one at %s/settings/tokens and run 'hfbroker login --name %s'", d.Endpoint, profile)
	case 404:
		return "check the repo id and --type; a private repo this token cannot see answers 404"
	case 429:
		return "the Hub rate-limited the check; try again in a few minutes"
	}
	return "the Hub refused it (see above); run 'hfbroker whoami --refresh " + profile + "' in case the token's permissions changed"
}
