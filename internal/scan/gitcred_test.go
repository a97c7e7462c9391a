package scan

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// credFixture is a .git-credentials with mixed hosts, a CRLF line, a
// comment, a blank line, a path, a port, a percent-encoded password and no
// final newline.
func credFixture(m *tokenMaker) (lines []string, hf []string, custom string) {
	a, b, c, d := m.hf(), m.hf(), m.hf(), m.hf()
	// git credential-store percent-encodes the password; a token never needs
	// it, but a decoded "%5F" must still give back the underscore.
	enc := strings.Replace(d, "_", "%5F", 1)
	lines = []string{
		"https://hf_user:" + a + "@huggingface.co\n",
		"https://octocat:ghp_notarealtoken@github.com\n",
		"# not a credential\n",
		"\n",
		"https://alice:" + b + "@HuggingFace.co/acme/private-model\r\n",
		"https://hf_user:" + c + "@hub.example.internal:8443\n",
		"https://nopassword@huggingface.co\n",
		"http://hf_user:" + enc + "@huggingface.co",
	}
	return lines, []string{a, b, d}, c
}

func TestReadGitCredentialsMatchesTheHost(t *testing.T) {
	m := newTokenMaker(40)
	lines, hf, custom := credFixture(m)
	p := filepath.Join(t.TempDir(), ".git-credentials")
	writeFile(t, p, strings.Join(lines, ""), 0o600)

	got, err := ReadGitCredentials(p, "huggingface.co")
	if err != nil {
		t.Fatal(err)
	}
	want := []GitCredential{
		{LineIndex: 0, URL: "https://huggingface.co", Username: "hf_user"},
		{LineIndex: 4, URL: "https://HuggingFace.co/acme/private-model", Username: "alice"},
		{LineIndex: 7, URL: "http://huggingface.co", Username: "hf_user"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i, w := range want {
		g := got[i]
		if g.LineIndex != w.LineIndex || g.URL != w.URL || g.Username != w.Username || g.Token.Reveal() != hf[i] {
			t.Errorf("credential %d = %v (url %s), want %+v", i, g, g.URL, w)
		}
	}
	assertNoToken(t, "printed credentials", fmt.Sprintf("%v %+v %#v", got, got, got), append(hf, custom)...)

	got, err = ReadGitCredentials(p, "hub.example.internal:8443")
	if err != nil || len(got) != 1 || got[0].Token.Reveal() != custom || got[0].LineIndex != 5 {
		t.Errorf("custom host: %v, %v", got, err)
	}
	if got, _ := ReadGitCredentials(p, "hub.example.internal"); len(got) != 0 {
		t.Errorf("a host without the port matched: %v", got)
	}
}

func TestRemoveGitCredentialsKeepsEveryOtherByte(t *testing.T) {
	m := newTokenMaker(41)
	lines, _, _ := credFixture(m)
	cases := []struct {
		name   string
		remove []int
	}{
		{"removing the huggingface.co lines", []int{0, 4, 7}},
		{"removing the last line, which has no newline", []int{7}},
		{"removing the CRLF line", []int{4}},
		{"removing the custom host", []int{5}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, ".git-credentials")
			writeFile(t, p, strings.Join(lines, ""), 0o600)
			if err := RemoveGitCredentials(p, tc.remove); err != nil {
				t.Fatal(err)
			}
			var want []byte
			for i, l := range lines {
				if !slices.Contains(tc.remove, i) {
					want = append(want, l...)
				}
			}
			if got := readFile(t, p); got != string(want) {
				t.Errorf("file is\n%q\nwant\n%q", got, want)
			}
			info, err := os.Stat(p)
			if err != nil || info.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, %v", info.Mode().Perm(), err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("left files behind: %v", entries)
			}
		})
	}
}

func TestRemoveGitCredentialsRefusesSafely(t *testing.T) {
	m := newTokenMaker(42)
	lines, hf, _ := credFixture(m)
	content := strings.Join(lines, "")
	cases := []struct {
		name    string
		remove  []int
		setup   func(p string)
		wantErr error
	}{
		{"a comment line is not a credential", []int{2}, nil, ErrNotCredential},
		{"a credential without password is not removed", []int{6}, nil, ErrNotCredential},
		{"a line past the end", []int{8}, nil, ErrNotCredential},
		{"a held git lock", []int{0}, func(p string) { writeFile(t, p+".lock", "", 0o600) }, ErrLocked},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), ".git-credentials")
			writeFile(t, p, content, 0o600)
			if tc.setup != nil {
				tc.setup(p)
			}
			err := RemoveGitCredentials(p, tc.remove)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			assertNoToken(t, "error", err.Error(), hf...)
			if readFile(t, p) != content {
				t.Error("the file changed")
			}
		})
	}
}

func TestRemoveGitCredentialsEditsASymlinkTarget(t *testing.T) {
	m := newTokenMaker(43)
	lines, _, _ := credFixture(m)
	dir := t.TempDir()
	target := filepath.Join(dir, "dotfiles-git-credentials")
	writeFile(t, target, strings.Join(lines, ""), 0o600)
	link := filepath.Join(dir, ".git-credentials")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := RemoveGitCredentials(link, []int{0}); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Lstat(link); err != nil || info.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symlink was replaced: %v", err)
	}
	if got := readFile(t, target); got != strings.Join(lines[1:], "") {
		t.Errorf("target is %q", got)
	}
}

// TestReadGitCredentialsReadsWhatGitWrites lets git credential-store write
// the file, so the parser is checked against git's own encoding.
func TestReadGitCredentialsReadsWhatGitWrites(t *testing.T) {
	git := requireTool(t, "git")
	tok := newTokenMaker(44).hf()
	home := t.TempDir()
	p := filepath.Join(home, "creds")
	run := func(stdin string, args ...string) {
		t.Helper()
		cmd := execCommand(git, args...)
		cmd.Env = []string{"HOME=" + home, "GIT_CONFIG_NOSYSTEM=1", "PATH=" + os.Getenv("PATH")}
		cmd.Stdin = strings.NewReader(stdin)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	run("protocol=https\nhost=huggingface.co\nusername=odd user@x\npassword="+tok+"\n\n", "credential-store", "--file="+p, "store")
	run("protocol=https\nhost=github.com\nusername=u\npassword=p:w@d/\n\n", "credential-store", "--file="+p, "store")
	got, err := ReadGitCredentials(p, "huggingface.co")
	if err != nil || len(got) != 1 || got[0].Token.Reveal() != tok || got[0].Username != "odd user@x" {
		t.Fatalf("got %v, %v from %q", got, err, strings.ReplaceAll(readFile(t, p), tok, "TOKEN"))
	}
	if err := RemoveGitCredentials(p, []int{got[0].LineIndex}); err != nil {
		t.Fatal(err)
	}
	// git still reads the rest.
	cmd := execCommand(git, "credential-store", "--file="+p, "get")
	cmd.Stdin = strings.NewReader("protocol=https\nhost=github.com\n\n")
	out, err := cmd.Output()
	if err != nil || !strings.Contains(string(out), "password=p:w@d/") {
		t.Errorf("git get after removal: %v: %s", err, out)
	}
	if strings.Contains(readFile(t, p), url.QueryEscape(tok)) || strings.Contains(readFile(t, p), tok) {
		t.Error("the token is still in the file")
	}
}

func TestGitCredentialStorePathsFindsStoreHelpers(t *testing.T) {
	home := "/home/alice"
	config := strings.Join([]string{
		"credential.helper cache --timeout=300",
		"credential.helper store --file=/data/creds",
		"credential.https://huggingface.co.helper store --file ~/hf-creds",
		`credential.helper !git credential-store --file "/with space/c"`,
		"credential.helper /usr/lib/git-core/git-credential-store --file=/abs/creds",
		"credential.helper store",
		"credential.helper hfbroker",
	}, "\n") + "\n"
	var gotArgs []string
	gitConfig := func(args ...string) (string, error) { gotArgs = args; return config, nil }
	got := GitCredentialStorePaths(envFrom(map[string]string{"XDG_CONFIG_HOME": "/xdg"}), gitConfig, home)
	want := []string{
		filepath.Join(home, ".git-credentials"),
		filepath.FromSlash("/xdg/git/credentials"),
		"/data/creds",
		filepath.Join(home, "hf-creds"),
		"/with space/c",
		"/abs/creds",
	}
	if !slices.Equal(got, want) {
		t.Errorf("paths\n%q\nwant\n%q", got, want)
	}
	if len(gotArgs) == 0 || gotArgs[0] != "--get-regexp" {
		t.Errorf("git config called with %q", gotArgs)
	}

	failing := func(...string) (string, error) { return "", errors.New("exit status 1") }
	got = GitCredentialStorePaths(envFrom(nil), failing, home)
	want = []string{filepath.Join(home, ".git-credentials"), filepath.Join(home, ".config", "git", "credentials")}
	if !slices.Equal(got, want) {
		t.Errorf("without helpers %q, want %q", got, want)
	}
}

func FuzzCredentialLine(f *testing.F) {
	f.Add([]byte("https://user:pa%3Ass@huggingface.co:8443/path\r\n"))
	f.Add([]byte("https://@/"))
	f.Add([]byte("x://a@b:c@d?e#f"))
	f.Add([]byte("http://hf_user:hf_x@127.0.0.1%3a33091"))
	f.Fuzz(func(t *testing.T, line []byte) {
		c, ok := parseCredentialLine(line)
		if !ok {
			return
		}
		if c.host == "" {
			t.Fatalf("empty host from %q", line)
		}
		// The printable URL is rebuilt from host and path only, so the
		// user info before the host can never reach it.
		if want := c.scheme + "://" + c.host; !strings.HasPrefix(c.redactedURL(), want) {
			t.Fatalf("redacted URL %q does not start with %q", c.redactedURL(), want)
		}
	})
}

// TestGitCredentialWithAPortIsFoundAndRemoved: git credential-store writes
// the host percent-encoded, so a host with a port is stored as
// "127.0.0.1%3a33091"; issue 19 item 3 found `import --remove-plaintext`
// leaving that line (and its token) behind because the host was compared
// undecoded. git's credential_from_url decodes the host; so do we.
func TestGitCredentialWithAPortIsFoundAndRemoved(t *testing.T) {
	git := requireTool(t, "git")
	tok := newTokenMaker(45).hf()
	home := t.TempDir()
	p := filepath.Join(home, "creds")
	before := "https://octocat:ghp_notarealtoken@github.com\r\n# kept\n"
	writeFile(t, p, before, 0o600)
	cmd := execCommand(git, "credential-store", "--file="+p, "store")
	cmd.Env = []string{"HOME=" + home, "GIT_CONFIG_NOSYSTEM=1", "PATH=" + os.Getenv("PATH")}
	cmd.Stdin = strings.NewReader("protocol=http\nhost=127.0.0.1:33091\nusername=hf_user\npassword=" + tok + "\n\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git credential-store store: %v: %s", err, out)
	}
	if raw := readFile(t, p); !strings.Contains(strings.ToLower(raw), "@127.0.0.1%3a33091") {
		t.Fatalf("git did not percent-encode the port's colon: %q", strings.ReplaceAll(raw, tok, "TOKEN"))
	}
	got, err := ReadGitCredentials(p, "127.0.0.1:33091")
	if err != nil || len(got) != 1 || got[0].Token.Reveal() != tok || got[0].URL != "http://127.0.0.1:33091" {
		t.Fatalf("got %v, %v; want the line git wrote for 127.0.0.1:33091", got, err)
	}
	assertNoToken(t, "printed credential", fmt.Sprintf("%v %+v", got, got), tok)
	if err := RemoveGitCredentials(p, []int{got[0].LineIndex}); err != nil {
		t.Fatal(err)
	}
	// The other lines stay byte for byte, wherever git put its own line.
	if after := readFile(t, p); after != before {
		t.Fatalf("after removal the file is %q; want %q", strings.ReplaceAll(after, tok, "TOKEN"), before)
	}
}
