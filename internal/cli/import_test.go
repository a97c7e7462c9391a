package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	rpccode "google.golang.org/genproto/googleapis/rpc/code"

	"github.com/hfbroker/hfbroker/internal/lane"
	"github.com/hfbroker/hfbroker/internal/secret"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// fakeToken builds a token Find and secret.Check accept: hf_ plus 34
// mixed-case characters, distinct per seed.
func fakeToken(seed string) string {
	body := strings.Repeat("Ab"+seed, 34)
	return "hf_" + body[:34]
}

// fakeImportDaemon answers import's RPCs the way the broker does: a token is
// verified against hub (token → display name) unless no_verify, an empty
// name means the display name, an existing name is replaced, and the first
// profile becomes the default.
type fakeImportDaemon struct {
	Daemon   // nil: any other call panics
	hub      map[string]string
	profiles []*pb.Profile
	tokens   map[string]string
	adds     []string // names of AddToken calls, in order
}

func newFakeImportDaemon(hub map[string]string) *fakeImportDaemon {
	return &fakeImportDaemon{hub: hub, tokens: map[string]string{}}
}

func (d *fakeImportDaemon) ListProfiles(context.Context, *pb.ListProfilesRequest) (*pb.ListProfilesResponse, error) {
	return &pb.ListProfilesResponse{Profiles: slices.Clone(d.profiles)}, nil
}

func (d *fakeImportDaemon) AddToken(_ context.Context, req *pb.AddTokenRequest) (*pb.AddTokenResponse, error) {
	d.adds = append(d.adds, req.GetName())
	p := &pb.Profile{Name: req.GetName(), Fingerprint: secret.Token(req.GetToken()).Fingerprint(), Endpoint: req.GetEndpoint()}
	if !req.GetNoVerify() {
		display, ok := d.hub[req.GetToken()]
		if !ok {
			return nil, &lane.Error{Code: rpccode.Code_FAILED_PRECONDITION, Message: "the Hub rejected the token: Invalid credentials in Authorization header"}
		}
		p.User, p.TokenRole, p.DisplayName = "alice", "write", display
		if p.Name == "" {
			p.Name = display
		}
	}
	if p.Name == "" {
		p.Name = "default"
	}
	replaced := false
	d.profiles = slices.DeleteFunc(d.profiles, func(old *pb.Profile) bool {
		if old.GetName() == p.Name {
			replaced = true
			p.Default = old.GetDefault()
			return true
		}
		return false
	})
	if len(d.profiles) == 0 || req.GetMakeDefault() {
		for _, old := range d.profiles {
			old.Default = false
		}
		p.Default = true
	}
	d.profiles = append(d.profiles, p)
	d.tokens[p.Name] = req.GetToken()
	return &pb.AddTokenResponse{Profile: p, Replaced: replaced}, nil
}

func (d *fakeImportDaemon) RemoveToken(_ context.Context, req *pb.RemoveTokenRequest) (*pb.RemoveTokenResponse, error) {
	wasDefault := false
	d.profiles = slices.DeleteFunc(d.profiles, func(p *pb.Profile) bool {
		if p.GetName() == req.GetName() {
			wasDefault = p.GetDefault()
			return true
		}
		return false
	})
	delete(d.tokens, req.GetName())
	if wasDefault && len(d.profiles) == 1 {
		d.profiles[0].Default = true
	}
	return &pb.RemoveTokenResponse{}, nil
}

func (d *fakeImportDaemon) Close() error { return nil }

func (d *fakeImportDaemon) names() []string {
	var out []string
	for _, p := range d.profiles {
		out = append(out, p.GetName())
	}
	return out
}

// importWorld is a fake HOME with huggingface_hub's and git's plaintext
// stores, and the factory and options to import from it.
type importWorld struct {
	home, tokenFile, storedTokens, gitCreds string
	env                                     map[string]string
	out, errOut                             bytes.Buffer
	opts                                    *ImportOptions
}

func newImportWorld(t *testing.T) *importWorld {
	t.Helper()
	w := &importWorld{home: t.TempDir()}
	hf := filepath.Join(w.home, ".cache", "huggingface")
	if err := os.MkdirAll(hf, 0o700); err != nil {
		t.Fatal(err)
	}
	w.tokenFile = filepath.Join(hf, "token")
	w.storedTokens = filepath.Join(hf, "stored_tokens")
	w.gitCreds = filepath.Join(w.home, ".git-credentials")
	w.env = map[string]string{"HOME": w.home, "HF_ENDPOINT": "https://huggingface.co"}
	f := &Factory{
		IO:  &IOStreams{In: strings.NewReader(""), Out: &w.out, ErrOut: &w.errOut, InFd: -1},
		Env: func(k string) string { return w.env[k] },
	}
	w.opts = &ImportOptions{IO: f.IO, Env: f.Env, Endpoint: f.Endpoint, GitConfig: func(...string) (string, error) { return "", errors.New("exit status 1") }}
	return w
}

func (w *importWorld) write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (w *importWorld) run(d *fakeImportDaemon) error {
	w.opts.Daemon = connectTo(d)
	return importRun(context.Background(), w.opts)
}

// assertNoTokens fails when any of the tokens appears in the output.
func (w *importWorld) assertNoTokens(t *testing.T, tokens ...string) {
	t.Helper()
	for _, tok := range tokens {
		if strings.Contains(w.out.String(), tok) || strings.Contains(w.errOut.String(), tok) {
			t.Fatalf("output holds a token in clear:\n%s%s", w.out.String(), w.errOut.String())
		}
	}
}

func mustReadFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func exitCodeOf(err error) int {
	if err == nil {
		return ExitOK
	}
	if ec, ok := errors.AsType[exitCodeError](err); ok {
		return ec.code
	}
	return -1
}

var (
	tokWrite = fakeToken("W")
	tokRead  = fakeToken("R")
	tokFG    = fakeToken("F")
	tokBad   = fakeToken("X")
)

// otherLines are .git-credentials lines import must keep byte for byte: other
// hosts, a CRLF ending, a blank line, a line git cannot parse.
const otherLines = "https://alice:ghp_notahftoken@github.com\r\n\nnot a url\nhttps://alice:" + "hf_AbZAbZAbZAbZAbZAbZAbZAbZAbZAbZAbZA" + "@huggingface.co.evil.example\n"

func TestImportStoresEachTokenOnceAndRemovesItsPlaintextCopies(t *testing.T) {
	w := newImportWorld(t)
	w.write(t, w.tokenFile, tokWrite+"\n")
	w.write(t, w.storedTokens, "[laptop]\nhf_token = "+tokWrite+"\n\n[reader]\nhf_token = "+tokRead+"\n\n[acme ci]\nhf_token = "+tokFG+"\n")
	w.write(t, w.gitCreds, "https://alice:"+tokRead+"@huggingface.co\n"+otherLines+"https://alice:"+tokWrite+"@HuggingFace.co/alice/x\n")
	w.env["HF_TOKEN"] = tokWrite
	w.opts.RemovePlaintext = true
	d := newFakeImportDaemon(map[string]string{tokWrite: "laptop", tokRead: "reader", tokFG: "acme-ci"})

	if err := w.run(d); err != nil {
		t.Fatalf("import failed: %v\n%s%s", err, w.out.String(), w.errOut.String())
	}
	w.assertNoTokens(t, tokWrite, tokRead, tokFG)
	if want := []string{"laptop", "reader", "acme-ci"}; !slices.Equal(d.adds, want) {
		t.Errorf("AddToken calls = %v, want one per distinct token %v", d.adds, want)
	}
	if d.tokens["laptop"] != tokWrite || d.tokens["reader"] != tokRead || d.tokens["acme-ci"] != tokFG {
		t.Errorf("profiles hold the wrong tokens: %v", d.names())
	}
	if !d.profiles[0].GetDefault() || d.profiles[0].GetName() != "laptop" {
		t.Errorf("the token file's token should be the default profile: %v", d.profiles)
	}
	if fileExists(w.tokenFile) || fileExists(w.storedTokens) {
		t.Errorf("token or stored_tokens still exists")
	}
	if got := mustReadFile(t, w.gitCreds); got != otherLines {
		t.Errorf(".git-credentials = %q, want the other lines byte-identical: %q", got, otherLines)
	}
	for _, want := range []string{
		`imported as profile "acme-ci"`,
		"removed ~/.cache/huggingface/token",
		"removed 2 lines from ~/.git-credentials",
		"note: $HF_TOKEN still holds the token",
	} {
		if !strings.Contains(w.out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, w.out.String())
		}
	}
}

func TestImportRemovesNothingOfATokenTheHubRejects(t *testing.T) {
	w := newImportWorld(t)
	stored := "[laptop]\nhf_token = " + tokWrite + "\n[stale]\nhf_token = " + tokBad + "\n"
	creds := "https://a:" + tokBad + "@huggingface.co\nhttps://a:" + tokWrite + "@huggingface.co\n"
	w.write(t, w.tokenFile, tokBad)
	w.write(t, w.storedTokens, stored)
	w.write(t, w.gitCreds, creds)
	w.opts.RemovePlaintext = true
	d := newFakeImportDaemon(map[string]string{tokWrite: "laptop"})

	err := w.run(d)
	if exitCodeOf(err) != ExitError {
		t.Fatalf("exit = %d (%v), want 1 when a token was not imported", exitCodeOf(err), err)
	}
	w.assertNoTokens(t, tokWrite, tokBad)
	if !strings.Contains(w.out.String(), "not imported: the Hub rejected it") {
		t.Errorf("output does not say the Hub rejected the token:\n%s", w.out.String())
	}
	if got := d.names(); !slices.Equal(got, []string{"laptop"}) {
		t.Errorf("profiles = %v, want the good token still imported", got)
	}
	if mustReadFile(t, w.tokenFile) != tokBad || mustReadFile(t, w.storedTokens) != stored {
		t.Errorf("a file holding the rejected token was changed")
	}
	if got, want := mustReadFile(t, w.gitCreds), "https://a:"+tokBad+"@huggingface.co\n"; got != want {
		t.Errorf(".git-credentials = %q, want only the imported token's line gone", got)
	}
}

func TestImportDryRunChangesNothing(t *testing.T) {
	w := newImportWorld(t)
	stored := "[laptop]\nhf_token = " + tokWrite + "\n"
	creds := "https://a:" + tokRead + "@huggingface.co\n" + otherLines
	w.write(t, w.tokenFile, tokWrite)
	w.write(t, w.storedTokens, stored)
	w.write(t, w.gitCreds, creds)
	w.opts.DryRun, w.opts.RemovePlaintext = true, true
	d := newFakeImportDaemon(map[string]string{tokWrite: "laptop", tokRead: "reader"})

	if err := w.run(d); err != nil {
		t.Fatalf("dry run failed: %v", err)
	}
	w.assertNoTokens(t, tokWrite, tokRead)
	if len(d.adds) != 0 {
		t.Errorf("dry run stored tokens: %v", d.adds)
	}
	if mustReadFile(t, w.tokenFile) != tokWrite || mustReadFile(t, w.storedTokens) != stored || mustReadFile(t, w.gitCreds) != creds {
		t.Errorf("dry run changed a file")
	}
	for _, want := range []string{`would import as profile "laptop"`, "would import, named after the token's name on the Hub", "would remove 1 line from ~/.git-credentials"} {
		if !strings.Contains(w.out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, w.out.String())
		}
	}
}

func TestImportNeverReplacesAStoredProfile(t *testing.T) {
	w := newImportWorld(t)
	// No stored_tokens: both tokens are named after their Hub name, and
	// both Hub names are taken by a profile holding another token.
	w.write(t, w.tokenFile, tokWrite)
	w.write(t, w.gitCreds, "https://a:"+tokRead+"@huggingface.co\n")
	d := newFakeImportDaemon(map[string]string{tokWrite: "laptop", tokRead: "laptop", tokFG: "laptop"})
	if _, err := d.AddToken(context.Background(), &pb.AddTokenRequest{Name: "laptop", Token: tokFG}); err != nil {
		t.Fatal(err)
	}
	d.adds = nil

	if err := w.run(d); err != nil {
		t.Fatalf("import failed: %v\n%s", err, w.out.String())
	}
	w.assertNoTokens(t, tokWrite, tokRead, tokFG)
	if d.tokens["laptop"] != tokFG {
		t.Errorf("the existing profile's token was replaced")
	}
	if d.tokens["laptop-2"] != tokWrite || d.tokens["laptop-3"] != tokRead {
		t.Errorf("profiles = %v, want laptop-2 and laptop-3 for the new tokens", d.names())
	}
	if slices.ContainsFunc(d.names(), func(n string) bool { return strings.HasPrefix(n, "import-") }) {
		t.Errorf("a temporary profile was left behind: %v", d.names())
	}
	if !d.profiles[0].GetDefault() {
		t.Errorf("the default profile changed: %v", d.profiles)
	}
}

func TestImportCarriesTheDefaultFromTheTemporaryProfile(t *testing.T) {
	w := newImportWorld(t)
	w.write(t, w.tokenFile, tokWrite)
	d := newFakeImportDaemon(map[string]string{tokWrite: "my laptop"})

	if err := w.run(d); err != nil {
		t.Fatalf("import failed: %v", err)
	}
	if got := d.names(); !slices.Equal(got, []string{"my-laptop"}) || !d.profiles[0].GetDefault() {
		t.Errorf("profiles = %v (default %v), want the default my-laptop alone", got, d.profiles[0].GetDefault())
	}
}

func TestImportReportsATokenAlreadyStoredAndRemovesItsCopies(t *testing.T) {
	w := newImportWorld(t)
	w.write(t, w.tokenFile, tokWrite)
	w.opts.RemovePlaintext = true
	d := newFakeImportDaemon(map[string]string{tokWrite: "laptop"})
	if _, err := d.AddToken(context.Background(), &pb.AddTokenRequest{Name: "work", Token: tokWrite}); err != nil {
		t.Fatal(err)
	}
	d.adds = nil

	if err := w.run(d); err != nil {
		t.Fatalf("import failed: %v", err)
	}
	if len(d.adds) != 0 {
		t.Errorf("a stored token was stored again: %v", d.adds)
	}
	if !strings.Contains(w.out.String(), `already stored as profile "work"`) {
		t.Errorf("output:\n%s", w.out.String())
	}
	if fileExists(w.tokenFile) {
		t.Errorf("the copy of an already stored token was kept")
	}
}

func TestImportSkipsOrganizationTokens(t *testing.T) {
	w := newImportWorld(t)
	org := "api_org_" + strings.Repeat("Q", 34)
	w.env["HUGGING_FACE_HUB_TOKEN"] = org
	d := newFakeImportDaemon(nil)

	err := w.run(d)
	if exitCodeOf(err) != ExitError {
		t.Errorf("exit = %d, want 1: the token was not imported", exitCodeOf(err))
	}
	w.assertNoTokens(t, org)
	if !strings.Contains(w.out.String(), "skipped: "+secret.ErrOrgToken.Error()) || len(d.adds) != 0 {
		t.Errorf("want huggingface_hub's message and nothing stored:\n%s", w.out.String())
	}
}

func TestImportWithNothingFoundSaysSoAndExitsZero(t *testing.T) {
	w := newImportWorld(t)
	w.write(t, w.gitCreds, otherLines)
	w.opts.Daemon = func(context.Context) (Daemon, error) {
		t.Error("import connected to the daemon with nothing to import")
		return nil, errors.New("no daemon")
	}
	err := importRun(context.Background(), w.opts)
	if err != nil || !strings.Contains(w.out.String(), "nothing to import") {
		t.Errorf("err = %v, output:\n%s", err, w.out.String())
	}
}

func TestImportReadsTheFileOfAStoreHelper(t *testing.T) {
	w := newImportWorld(t)
	creds := filepath.Join(w.home, "creds")
	w.write(t, creds, "https://a:"+tokRead+"@huggingface.co\n")
	w.opts.GitConfig = func(args ...string) (string, error) {
		return "credential.helper store --file ~/creds\n", nil
	}
	w.opts.NoVerify, w.opts.RemovePlaintext = true, true
	d := newFakeImportDaemon(nil)

	if err := w.run(d); err != nil {
		t.Fatalf("import failed: %v", err)
	}
	if d.tokens["default"] != tokRead || mustReadFile(t, creds) != "" {
		t.Errorf("profiles %v; creds left %q", d.names(), mustReadFile(t, creds))
	}
}

func TestProfileNameFrom(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"a plain name is kept", "acme-ci", "acme-ci"},
		{"spaces and slashes become dashes", "my laptop/work", "my-laptop-work"},
		{"other characters are dropped", "tök€n!", "tkn"},
		{"leading and trailing punctuation is trimmed", "-.x_@", "x"},
		{"double dots collapse", "a..b", "a.b"},
		{"nothing usable gives empty", "€€", ""},
		{"long names are cut", strings.Repeat("a", 100), strings.Repeat("a", 64)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := profileNameFrom(tc.in); got != tc.want {
				t.Errorf("profileNameFrom(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestFreeName(t *testing.T) {
	long := strings.Repeat("a", 64)
	imp := &importer{taken: map[string]bool{"laptop": true, "laptop-2": true, long: true}}
	for _, tc := range []struct{ name, base, want string }{
		{"a free name is used as is", "reader", "reader"},
		{"a taken name gets the first free suffix", "laptop", "laptop-3"},
		{"a suffix never makes a name too long", long, strings.Repeat("a", 62) + "-2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := imp.freeName(tc.base); got != tc.want {
				t.Errorf("freeName(%q) = %q, want %q", tc.base, got, tc.want)
			}
		})
	}
}

func TestImportFlags(t *testing.T) {
	var got *ImportOptions
	f := &Factory{IO: &IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}, InFd: -1}, Env: func(string) string { return "" }}
	cmd := newCmdImport(f, func(o *ImportOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--dry-run", "--remove-plaintext", "--no-verify"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !got.DryRun || !got.RemovePlaintext || !got.NoVerify {
		t.Errorf("flags not set: %+v", got)
	}

	var errOut bytes.Buffer
	f.IO.ErrOut = &errOut
	if code := Run(f, []string{"import", tokWrite}); code != ExitUsage {
		t.Errorf("import with an argument exited %d, want %d", code, ExitUsage)
	}
	if strings.Contains(errOut.String(), tokWrite) {
		t.Errorf("a token given as an argument was echoed: %s", errOut.String())
	}
}
