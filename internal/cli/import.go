package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hfbroker/hfbroker/internal/config"
	"github.com/hfbroker/hfbroker/internal/scan"
	"github.com/hfbroker/hfbroker/internal/secret"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// ImportOptions are import's inputs.
type ImportOptions struct {
	IO     *IOStreams
	Daemon DaemonFunc
	// Env is the environment: HOME, HF_HOME, HF_TOKEN and the rest of
	// huggingface_hub's and git's places for a token.
	Env config.Env
	// Endpoint resolves the Hub endpoint (whose host git's lines name).
	Endpoint        func() (string, error)
	DryRun          bool
	RemovePlaintext bool
	NoVerify        bool
	// GitConfig runs "git config ARGS…" and returns its stdout; nil runs git.
	GitConfig func(args ...string) (string, error)
}

func newCmdImport(f *Factory, runF func(*ImportOptions) error) *cobra.Command {
	opts := &ImportOptions{IO: f.IO, Daemon: f.Daemon, Env: f.Env, Endpoint: f.Endpoint}
	cmd := &cobra.Command{
		Use:   "import [--dry-run] [--remove-plaintext] [--no-verify]",
		Short: "Move tokens that huggingface_hub, git and your environment keep in plaintext into hfbroker",
		Long: `Find Hugging Face tokens kept in plaintext and store each in hfbroker:

  - huggingface_hub's token file and stored_tokens ($HF_TOKEN_PATH, $HF_HOME,
    $XDG_CACHE_HOME/huggingface, ~/.cache/huggingface) and the legacy
    ~/.huggingface/token;
  - lines of ~/.git-credentials, ~/.config/git/credentials and the file of any
    git "store" credential helper, for the Hub's host;
  - HF_TOKEN and HUGGING_FACE_HUB_TOKEN in the environment.

Each distinct token becomes a profile named after its stored_tokens section,
else after the token's name on the Hub (with --no-verify, "default"). When a
profile of that name already holds a different token, the new one is stored as
NAME-2 (or NAME-3, …): an import never replaces a stored token. A token already
stored under any name is reported and not stored twice; so is a browser login
(an OAuth section) whose pair hfbroker holds or has refreshed since, while
another login under the same section name is imported. Each token is checked
with the Hub first unless --no-verify; one the Hub rejects is not imported.
Tokens are shown masked (hf_…abcd) with their fingerprint, never in full.

With --remove-plaintext, the plaintext copies of tokens that are now stored are
removed: matching .git-credentials lines are deleted and every other line kept
byte for byte; the token file and stored_tokens are deleted only when every
token in them is stored. Nothing is removed for a token that was not imported.
Environment variables cannot be unset for you: a note says where they are.

Exits 0 when every token found is stored (or none was found), 1 when any was
not imported (a legacy api_org_ token, which is skipped, counts) or a file
could not be read or rewritten; the others are still imported.`,
		// Not cobra.NoArgs: its error quotes the argument, which may be a token.
		Example: `  hfbroker import --dry-run
  hfbroker import --remove-plaintext`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return &UsageError{errors.New("import takes no arguments: it finds the tokens itself")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return importRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "show what would be imported and removed, and change nothing")
	cmd.Flags().BoolVar(&opts.RemovePlaintext, "remove-plaintext", false, "remove the plaintext copies of the tokens imported")
	cmd.Flags().BoolVar(&opts.NoVerify, "no-verify", false, "store without asking the Hub whether each token works")
	return cmd
}

// copyKind says how a plaintext copy of a token can be removed.
type copyKind int

const (
	copyTokenFile     copyKind = iota // a file that is only a token: deleted whole
	copyStoredTokens                  // a section of stored_tokens: the file goes when all its tokens are stored
	copyGitCredential                 // a line of a credential-store file: the line goes
	copyEnv                           // an environment variable: only the user can unset it
)

// plainCopy is one place a token sits in plaintext.
type plainCopy struct {
	kind    copyKind
	path    string // the file, or "$VAR"
	line    int    // copyGitCredential: the 0-based line index
	section string // copyStoredTokens: the section name
}

// foundToken is one distinct token and every place it was found.
type foundToken struct {
	token  secret.Token
	name   string // its first stored_tokens section, "" when none
	copies []plainCopy
	// safe is set once the token is stored in hfbroker, by this run or
	// before: only then may its plaintext copies go.
	safe bool
	// refresh and expiresAt come from an OAuth section of stored_tokens
	// (issue 14): the daemon keeps the refresh token beside the access token.
	refresh   secret.Token
	expiresAt time.Time
}

// plaintextFiles is what findPlaintext read, for the removal step.
type plaintextFiles struct {
	tokenFiles   []string // token files that held a token
	storedTokens string   // stored_tokens, when it parsed and held tokens
	gitFiles     []string // credential-store files with lines for the host
}

// findPlaintext collects the tokens in huggingface_hub's files, git's
// credential-store files and the environment, in that order, the active
// token file first so that it becomes the default profile of an empty store.
// Problems are files that exist but could not be read. gitConfig runs "git
// config ARGS…" (nil: git itself).
func findPlaintext(env config.Env, gitConfig func(args ...string) (string, error), home, host string) (found []*foundToken, files plaintextFiles, problems []error) {
	byValue := map[secret.Token]*foundToken{}
	add := func(tok secret.Token, name string, c plainCopy) {
		ft := byValue[tok]
		if ft == nil {
			ft = &foundToken{token: tok}
			byValue[tok] = ft
			found = append(found, ft)
		}
		if ft.name == "" {
			ft.name = name
		}
		ft.copies = append(ft.copies, c)
	}
	// A missing file is the normal case; an empty token file is how
	// huggingface_hub logs out.
	quiet := func(err error) bool { return errors.Is(err, fs.ErrNotExist) || errors.Is(err, scan.ErrNoToken) }

	loc := scan.HFPaths(env, home)
	var legacy []string
	if loc.Legacy != loc.TokenFile {
		legacy = []string{loc.Legacy}
	}
	readTokenFile := func(p string) {
		tok, err := scan.ReadTokenFile(p)
		if err != nil {
			if !quiet(err) {
				problems = append(problems, err)
			}
			return
		}
		files.tokenFiles = append(files.tokenFiles, p)
		add(tok, "", plainCopy{kind: copyTokenFile, path: p})
	}
	readTokenFile(loc.TokenFile)
	if sts, err := scan.ReadStoredTokens(loc.StoredTokens); err != nil {
		if !quiet(err) {
			problems = append(problems, err)
		}
	} else if len(sts) > 0 {
		files.storedTokens = loc.StoredTokens
		for _, st := range sts {
			add(st.Token, st.Section, plainCopy{kind: copyStoredTokens, path: loc.StoredTokens, section: st.Section})
			if ft := byValue[st.Token]; st.Refresh != "" && ft.refresh == "" {
				ft.refresh, ft.expiresAt = st.Refresh, st.ExpiresAt
			}
		}
	}
	for _, p := range legacy {
		readTokenFile(p)
	}

	if gitConfig == nil {
		gitConfig = runGitConfig
	}
	for _, p := range scan.GitCredentialStorePaths(env, gitConfig, home) {
		creds, err := scan.ReadGitCredentials(p, host)
		if err != nil {
			if !quiet(err) {
				problems = append(problems, err)
			}
			continue
		}
		if len(creds) > 0 {
			files.gitFiles = append(files.gitFiles, p)
		}
		for _, c := range creds {
			add(c.Token, "", plainCopy{kind: copyGitCredential, path: p, line: c.LineIndex})
		}
	}

	var environ []string
	for _, k := range []string{"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"} {
		environ = append(environ, k+"="+env(k))
	}
	for _, e := range scan.EnvTokens(environ) {
		add(e.Token, "", plainCopy{kind: copyEnv, path: "$" + e.Var})
	}
	return found, files, problems
}

func runGitConfig(args ...string) (string, error) {
	out, err := exec.Command("git", append([]string{"config"}, args...)...).Output()
	return string(out), err
}

// importRun moves the plaintext tokens it finds into the daemon. It
// connects only when there is something to import.
func importRun(ctx context.Context, opts *ImportOptions) error {
	endpoint, err := opts.Endpoint()
	if err != nil {
		return err
	}
	home := opts.Env("HOME")
	if home == "" {
		return errorWithHint(ExitError, "set HOME to your home directory", "HOME is not set: cannot find the plaintext token files")
	}
	found, files, problems := findPlaintext(opts.Env, opts.GitConfig, home, hostOf(endpoint))
	for _, p := range problems {
		fmt.Fprintf(opts.IO.ErrOut, "hfbroker: warning: %s\n", oneLine(p.Error()))
	}
	if len(found) == 0 {
		fmt.Fprintln(opts.IO.Out, "nothing to import: no plaintext Hugging Face tokens found")
		if len(problems) > 0 {
			return exitCodeError{ExitError}
		}
		return nil
	}
	var failed int
	err = withDaemon(ctx, opts.Daemon, func(api Daemon) error {
		imp := &importer{opts: opts, api: api, out: opts.IO.Out, home: home, endpoint: endpoint}
		n, err := imp.run(ctx, found, files)
		failed = n
		return err
	})
	if err != nil {
		return err
	}
	if failed > 0 || len(problems) > 0 {
		return exitCodeError{ExitError}
	}
	return nil
}

// importer stores found tokens through the daemon and retires their
// plaintext copies.
type importer struct {
	opts     *ImportOptions
	api      Daemon
	out      io.Writer
	home     string
	endpoint string
	// taken holds every profile name in use, including those added by this run.
	taken map[string]bool
}

// run imports every token, then removes plaintext copies when asked. It
// returns how many tokens or files failed.
func (imp *importer) run(ctx context.Context, found []*foundToken, files plaintextFiles) (int, error) {
	list, err := imp.api.ListProfiles(ctx, &pb.ListProfilesRequest{})
	if err != nil {
		return 0, err
	}
	byFP := map[string]string{}
	oauthNames := map[string]bool{}
	imp.taken = map[string]bool{}
	for _, p := range list.GetProfiles() {
		byFP[p.GetFingerprint()] = p.GetName()
		imp.taken[p.GetName()] = true
		oauthNames[p.GetName()] = p.GetOauth()
	}
	failed := 0
	for _, ft := range found {
		fmt.Fprintf(imp.out, "%s (fingerprint %s) in %s\n", ft.token, ft.token.Fingerprint(), imp.describeCopies(ft.copies))
		if name, ok := byFP[ft.token.Fingerprint()]; ok {
			ft.safe = true
			fmt.Fprintf(imp.out, "  already stored as profile %q\n", name)
			continue
		}
		if err := secret.Check(ft.token.Reveal()); err != nil {
			failed++
			verb := "not imported"
			if errors.Is(err, secret.ErrOrgToken) {
				verb = "skipped"
			}
			fmt.Fprintf(imp.out, "  %s: %s\n", verb, err)
			continue
		}
		if imp.opts.DryRun {
			ft.safe = true // so the dry run shows what a successful import would remove
			// An OAuth profile's fingerprint names its login, not its
			// current tokens: only the daemon can tell whether it holds
			// this pair, and it is asked only when storing.
			if name := profileNameFrom(ft.name); ft.refresh != "" && oauthNames[name] {
				fmt.Fprintf(imp.out, "  would import as profile %q, unless profile %q already holds this login\n", imp.freeName(name), name)
				continue
			}
			switch {
			case profileNameFrom(ft.name) != "":
				fmt.Fprintf(imp.out, "  would import as profile %q\n", imp.freeName(profileNameFrom(ft.name)))
			case imp.opts.NoVerify:
				fmt.Fprintf(imp.out, "  would import as profile %q\n", imp.freeName("default"))
			default:
				fmt.Fprintln(imp.out, "  would import, named after the token's name on the Hub")
			}
			continue
		}
		p, held, err := imp.add(ctx, ft)
		if err != nil {
			failed++
			fmt.Fprintf(imp.out, "  not imported: %s\n", importFailure(err))
			continue
		}
		ft.safe = true
		if held {
			// The daemon holds this login (this pair, or one it has
			// refreshed since): a copy of any other login is imported, and
			// so never removed unheld.
			fmt.Fprintf(imp.out, "  already stored as browser login %q\n", p.GetName())
			continue
		}
		byFP[p.GetFingerprint()] = p.GetName()
		who := "not verified"
		if p.GetUser() != "" {
			who = fmt.Sprintf("user %s, %s token", p.GetUser(), roleText(p.GetTokenRole()))
		}
		if p.GetOauth() {
			who = fmt.Sprintf("user %s, browser login with its refresh token%s", p.GetUser(), expiryText(p.GetExpiresAt()))
		}
		fmt.Fprintf(imp.out, "  imported as profile %q (%s)\n", p.GetName(), who)
		if p.GetOauth() && !imp.opts.RemovePlaintext {
			fmt.Fprintln(imp.out, "  note: huggingface_hub still holds this login's refresh token; whichever refreshes first makes the other's copy useless: run 'hfbroker import --remove-plaintext'")
		}
	}
	if imp.opts.RemovePlaintext {
		failed += imp.removeCopies(found, files)
	} else if !imp.opts.DryRun && slices.ContainsFunc(found, func(ft *foundToken) bool { return ft.safe && removable(ft) }) {
		fmt.Fprintln(imp.out, "the plaintext copies are still there: run 'hfbroker import --remove-plaintext' to remove them")
	}
	return failed, nil
}

func removable(ft *foundToken) bool {
	return slices.ContainsFunc(ft.copies, func(c plainCopy) bool { return c.kind != copyEnv })
}

// add stores one token and returns its new profile. The profile is named
// after the token's stored_tokens section, else its name on the Hub, and
// never takes a name that holds another token. The bool is true when the
// token is an OAuth login the daemon already holds, which it then did not
// store again: the profile returned is the one that holds it.
//
// The daemon names an unnamed token itself, and would replace a profile
// that already has that name; so a token without a section is first stored
// under a temporary name, which tells us its name on the Hub, then stored
// again under a free name and the temporary profile removed.
func (imp *importer) add(ctx context.Context, ft *foundToken) (*pb.Profile, bool, error) {
	req := &pb.AddTokenRequest{Token: ft.token.Reveal(), Endpoint: imp.endpoint, NoVerify: imp.opts.NoVerify}
	if ft.refresh != "" {
		// An OAuth login: both tokens go to the store, and the daemon
		// proves the pair works (a whoami, or a refresh when the access
		// token has expired) before anything is stored, --no-verify or not:
		// only a proven pair lets --remove-plaintext delete the refresh token.
		req.RefreshToken, req.NoVerify = ft.refresh.Reveal(), false
		if !ft.expiresAt.IsZero() {
			req.ExpiresAt = timestamppb.New(ft.expiresAt)
		}
	}
	// A section whose name leaves nothing usable (a token named in
	// Chinese, say) is named as a token without a section is: sent without
	// a name, the daemon would name it after the token and replace the
	// profile that has that name. (huggingface_hub names an OAuth section
	// oauth-USER, always usable; the temporary profile below would drop
	// its refresh token.)
	switch {
	case profileNameFrom(ft.name) != "" || ft.refresh != "":
		req.Name = imp.freeName(profileNameFrom(ft.name))
	case imp.opts.NoVerify:
		req.Name = imp.freeName("default")
	default:
		tmp := imp.freeName("import-" + ft.token.Fingerprint())
		req.Name = tmp
		resp, err := imp.api.AddToken(ctx, req)
		if err != nil {
			return nil, false, err
		}
		imp.taken[tmp] = true
		p := resp.GetProfile()
		want := profileNameFrom(p.GetDisplayName())
		if want == "" && p.GetUser() != "" {
			// OAuth tokens have no name; huggingface_hub calls them oauth-<user>.
			want = profileNameFrom("oauth-" + p.GetUser())
		}
		if want == "" {
			want = "default"
		}
		final := &pb.AddTokenRequest{Name: imp.freeName(want), Token: req.Token, Endpoint: imp.endpoint, MakeDefault: p.GetDefault()}
		resp, err = imp.api.AddToken(ctx, final)
		if _, rerr := imp.api.RemoveToken(ctx, &pb.RemoveTokenRequest{Name: tmp}); rerr != nil {
			fmt.Fprintf(imp.out, "  could not remove the temporary profile %q: %s (remove it with 'hfbroker logout --name %s')\n", tmp, importFailure(rerr), tmp)
		} else {
			delete(imp.taken, tmp)
		}
		if err != nil {
			return nil, false, err
		}
		imp.taken[final.Name] = true
		return resp.GetProfile(), false, nil
	}
	resp, err := imp.api.AddToken(ctx, req)
	if err != nil {
		return nil, false, err
	}
	if resp.GetAlreadyStored() {
		return resp.GetProfile(), true, nil
	}
	imp.taken[req.Name] = true
	return resp.GetProfile(), false, nil
}

// importFailure says in one line why the daemon did not store a token.
func importFailure(err error) string {
	st, ok := statusOf(err)
	if !ok {
		return oneLine(err.Error())
	}
	// The broker words a 401 from whoami-v2 this way (broker.hubError).
	if strings.HasPrefix(st.Message, "the Hub rejected the token") {
		return "the Hub rejected it"
	}
	return oneLine(st.Message)
}

// maxProfileName mirrors the broker's MaxNameLen.
const maxProfileName = 64

// freeName returns base, or base-2, base-3, … when base is taken.
func (imp *importer) freeName(base string) string {
	if !imp.taken[base] {
		return base
	}
	for i := 2; ; i++ {
		suffix := fmt.Sprintf("-%d", i)
		n := base
		if len(n)+len(suffix) > maxProfileName {
			n = strings.TrimRight(n[:maxProfileName-len(suffix)], "-_.@")
		}
		n += suffix
		if !imp.taken[n] {
			return n
		}
	}
}

// profileNameFrom turns a stored_tokens section or a token's Hub name into a
// profile name the broker accepts, as the broker's own naming does: spaces
// and slashes become dashes, other characters outside [A-Za-z0-9-_.@] go.
// It returns "" when nothing usable is left.
func profileNameFrom(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= maxProfileName {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.', r == '@':
			b.WriteRune(r)
		case r == ' ' || r == '/':
			b.WriteRune('-')
		}
	}
	out := strings.Trim(b.String(), "-_.@")
	for strings.Contains(out, "..") {
		out = strings.ReplaceAll(out, "..", ".")
	}
	return out
}

// removeCopies removes the plaintext copies of stored tokens and returns how
// many removals failed. A file is touched only for tokens that are safe.
func (imp *importer) removeCopies(found []*foundToken, files plaintextFiles) int {
	var safe []secret.Token
	inFile := map[string][]*foundToken{}
	for _, ft := range found {
		if ft.safe {
			safe = append(safe, ft.token)
		}
		for _, c := range ft.copies {
			if !slices.Contains(inFile[c.path], ft) {
				inFile[c.path] = append(inFile[c.path], ft)
			}
		}
	}
	failed := 0
	removeFile := func(path string) {
		var kept int
		for _, ft := range inFile[path] {
			if !ft.safe {
				kept++
			}
		}
		if kept > 0 {
			fmt.Fprintf(imp.out, "kept %s: %s not imported\n", imp.show(path), plural(kept, "token in it was", "tokens in it were"))
			return
		}
		if imp.opts.DryRun {
			fmt.Fprintf(imp.out, "would remove %s\n", imp.show(path))
			return
		}
		if err := scan.RemovePlaintext(path, safe); err != nil {
			failed++
			fmt.Fprintf(imp.out, "could not remove %s: %s\n", imp.show(path), oneLine(err.Error()))
			return
		}
		fmt.Fprintf(imp.out, "removed %s\n", imp.show(path))
	}
	for _, p := range files.tokenFiles {
		removeFile(p)
	}
	if files.storedTokens != "" {
		removeFile(files.storedTokens)
	}
	for _, p := range files.gitFiles {
		var lines []int
		kept := 0
		for _, ft := range inFile[p] {
			for _, c := range ft.copies {
				if c.kind != copyGitCredential || c.path != p {
					continue
				}
				if ft.safe {
					lines = append(lines, c.line)
				} else {
					kept++
				}
			}
		}
		slices.Sort(lines)
		if len(lines) > 0 {
			if imp.opts.DryRun {
				fmt.Fprintf(imp.out, "would remove %s from %s\n", plural(len(lines), "line", "lines"), imp.show(p))
			} else if err := scan.RemoveGitCredentials(p, lines); err != nil {
				failed++
				fmt.Fprintf(imp.out, "could not rewrite %s: %s\n", imp.show(p), oneLine(err.Error()))
			} else {
				fmt.Fprintf(imp.out, "removed %s from %s\n", plural(len(lines), "line", "lines"), imp.show(p))
			}
		}
		if kept > 0 {
			why := "its token was"
			if kept > 1 {
				why = "their tokens were"
			}
			fmt.Fprintf(imp.out, "kept %s in %s: %s not imported\n", plural(kept, "line", "lines"), imp.show(p), why)
		}
	}
	for _, ft := range found {
		for _, c := range ft.copies {
			if c.kind == copyEnv && ft.safe {
				fmt.Fprintf(imp.out, "note: %s still holds the token: remove it where it is set (shell startup files, .env) and use 'hfbroker exec'\n", c.path)
			}
		}
	}
	return failed
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// describeCopies lists where a token was found, for one line of output.
func (imp *importer) describeCopies(cs []plainCopy) string {
	var parts []string
	for _, c := range cs {
		switch c.kind {
		case copyStoredTokens:
			parts = append(parts, fmt.Sprintf("%s [%s]", imp.show(c.path), oneLine(c.section)))
		case copyGitCredential:
			parts = append(parts, fmt.Sprintf("%s:%d", imp.show(c.path), c.line+1))
		default:
			parts = append(parts, imp.show(c.path))
		}
	}
	return strings.Join(parts, ", ")
}

// show shortens a path under HOME to ~/….
func (imp *importer) show(p string) string {
	if rel, err := filepath.Rel(imp.home, p); err == nil && filepath.IsLocal(rel) {
		return "~" + string(filepath.Separator) + rel
	}
	return p
}
