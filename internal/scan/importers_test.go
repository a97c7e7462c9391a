package scan

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hfbroker/hfbroker/internal/secret"
)

func envFrom(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestHFPathsFollowHuggingfaceHub(t *testing.T) {
	home := "/home/alice"
	cases := []struct {
		name              string
		env               map[string]string
		token, storedDirs string
	}{
		{"defaults live under ~/.cache/huggingface", nil, "/home/alice/.cache/huggingface/token", "/home/alice/.cache/huggingface"},
		{"XDG_CACHE_HOME moves HF_HOME", map[string]string{"XDG_CACHE_HOME": "/xdg"}, "/xdg/huggingface/token", "/xdg/huggingface"},
		{"HF_HOME wins over XDG_CACHE_HOME", map[string]string{"XDG_CACHE_HOME": "/xdg", "HF_HOME": "/hf"}, "/hf/token", "/hf"},
		{"HF_HOME expands ~ and variables", map[string]string{"HF_HOME": "~/hf-$USER", "USER": "alice"}, "/home/alice/hf-alice/token", "/home/alice/hf-alice"},
		{"an unset variable stays as written", map[string]string{"HF_HOME": "/x/${NOPE}"}, "/x/${NOPE}/token", "/x/${NOPE}"},
		{"HF_TOKEN_PATH moves the token and stored_tokens with it", map[string]string{"HF_HOME": "/hf", "HF_TOKEN_PATH": "~/secrets/hf"}, "/home/alice/secrets/hf", "/home/alice/secrets"},
		{"an empty HF_HOME counts as unset", map[string]string{"HF_HOME": ""}, "/home/alice/.cache/huggingface/token", "/home/alice/.cache/huggingface"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := HFPaths(envFrom(tc.env), home)
			want := HFLocations{
				TokenFile:    filepath.FromSlash(tc.token),
				StoredTokens: filepath.Join(filepath.FromSlash(tc.storedDirs), "stored_tokens"),
				Legacy:       filepath.FromSlash("/home/alice/.huggingface/token"),
			}
			if got != want {
				t.Errorf("HFPaths = %+v, want %+v", got, want)
			}
		})
	}
}

func TestReadTokenFileCleansLikeHuggingfaceHub(t *testing.T) {
	tok := newTokenMaker(30).hf()
	dir := t.TempDir()
	cases := []struct{ name, content string }{
		{"a bare token", tok},
		{"a trailing newline", tok + "\n"},
		{"CRLF and padding", "  " + tok + "\r\n"},
		{"a newline in the middle is dropped", tok[:10] + "\n" + tok[10:]},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, fmt.Sprint(i))
			writeFile(t, p, tc.content, 0o600)
			got, err := ReadTokenFile(p)
			if err != nil || got.Reveal() != tok {
				t.Errorf("ReadTokenFile = %v, %v", got, err)
			}
		})
	}
	t.Run("an empty file is not a token", func(t *testing.T) {
		p := filepath.Join(dir, "empty")
		writeFile(t, p, " \n", 0o600)
		if _, err := ReadTokenFile(p); !errors.Is(err, ErrNoToken) {
			t.Errorf("err = %v, want ErrNoToken", err)
		}
	})
	t.Run("a missing file says so", func(t *testing.T) {
		if _, err := ReadTokenFile(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("err = %v, want fs.ErrNotExist", err)
		}
	})
}

func TestReadStoredTokensReadsConfigparserOutput(t *testing.T) {
	m := newTokenMaker(31)
	a, b, c := m.hf(), m.oauth(), m.hf()
	content := "\ufeff# written by huggingface_hub\r\n[laptop]\r\nhf_token = " + a + "\r\n\r\n" +
		"[oauth-alice]\nHF_TOKEN=" + b + "\nrefresh_token = some-refresh\nexpires_at = 1752192000\n\n" +
		"; a comment\n[work ci]\nhf_token: " + c + "\n"
	p := filepath.Join(t.TempDir(), "stored_tokens")
	writeFile(t, p, content, 0o600)
	got, err := ReadStoredTokens(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []StoredToken{
		{Section: "laptop", Token: secret.Token(a)},
		{Section: "oauth-alice", Token: secret.Token(b), HasRefresh: true, ExpiresAt: time.Unix(1752192000, 0)},
		{Section: "work ci", Token: secret.Token(c)},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d sections: %v", len(got), got)
	}
	for i := range want {
		if got[i].Section != want[i].Section || got[i].Token != want[i].Token || got[i].HasRefresh != want[i].HasRefresh || !got[i].ExpiresAt.Equal(want[i].ExpiresAt) {
			t.Errorf("section %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	assertNoToken(t, "printed stored tokens", fmt.Sprintf("%v %+v %#v", got, got, got), a, b, c)
}

func TestReadStoredTokensAppliesTheDefaultSection(t *testing.T) {
	tok := newTokenMaker(32).hf()
	got, err := parseStoredTokens([]byte("[DEFAULT]\nhf_token = " + tok + "\n[named]\nexpires_at = 5\n"))
	if err != nil || len(got) != 1 || got[0].Section != "named" || got[0].Token.Reveal() != tok {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestReadStoredTokensRefusesMalformedFiles(t *testing.T) {
	tok := newTokenMaker(33).hf()
	cases := []struct{ name, content string }{
		{"a key before any section", "hf_token = " + tok + "\n[a]\nhf_token = x\n"},
		{"a repeated section", "[a]\nhf_token = " + tok + "\n[a]\nhf_token = y\n"},
		{"a repeated key, case-folded", "[a]\nhf_token = " + tok + "\nHF_TOKEN = y\n"},
		{"a continuation line", "[a]\nhf_token = " + tok + "\n  " + tok + "\n"},
		{"a line without separator", "[a]\n" + tok + "\n"},
		{"a section without hf_token", "[a]\nrefresh_token = " + tok + "\n"},
		{"a broken header", "[a\nhf_token = " + tok + "\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseStoredTokens([]byte(tc.content))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			assertNoToken(t, "error", err.Error(), tok)
		})
	}
}

func TestEnvTokensReadsBothVariables(t *testing.T) {
	m := newTokenMaker(34)
	a, b := m.hf(), m.hf()
	cases := []struct {
		name    string
		environ []string
		want    []string
	}{
		{"both variables in precedence order", []string{"HUGGING_FACE_HUB_TOKEN=" + b, "PATH=/bin", "HF_TOKEN=" + a}, []string{"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"}},
		{"an empty HF_TOKEN is no token", []string{"HF_TOKEN=", "HUGGING_FACE_HUB_TOKEN=" + b + "\n"}, []string{"HUGGING_FACE_HUB_TOKEN"}},
		{"the first of duplicates wins", []string{"HF_TOKEN=" + a, "HF_TOKEN=" + b}, []string{"HF_TOKEN"}},
		{"other variables are ignored", []string{"HF_TOKEN_PATH=/x", "MY_HF_TOKEN=" + a}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := EnvTokens(tc.environ)
			var names []string
			for _, e := range got {
				names = append(names, e.Var)
				if e.Var == "HF_TOKEN" && e.Token.Reveal() != a || e.Var == "HUGGING_FACE_HUB_TOKEN" && e.Token.Reveal() != b {
					t.Errorf("%s has the wrong value", e.Var)
				}
			}
			if !slices.Equal(names, tc.want) {
				t.Errorf("vars %q, want %q", names, tc.want)
			}
			assertNoToken(t, "printed env tokens", fmt.Sprint(got), a, b)
		})
	}
}

func TestRemovePlaintextDeletesOnlyFullyImportedFiles(t *testing.T) {
	m := newTokenMaker(35)
	a, b := m.hf(), m.oauth()
	dir := t.TempDir()
	stored := "[a]\nhf_token = " + a + "\n\n[b]\nhf_token = " + b + "\n"

	t.Run("a file whose tokens were all imported is removed", func(t *testing.T) {
		p := filepath.Join(dir, "stored_tokens")
		writeFile(t, p, stored, 0o600)
		if err := RemovePlaintext(p, []secret.Token{secret.Token(a), secret.Token(b)}); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("file still there: %v", err)
		}
	})
	t.Run("a file with an unimported token stays, byte for byte", func(t *testing.T) {
		p := filepath.Join(dir, "stored_tokens")
		writeFile(t, p, stored, 0o600)
		err := RemovePlaintext(p, []secret.Token{secret.Token(a)})
		if !errors.Is(err, ErrNotImported) {
			t.Fatalf("err = %v, want ErrNotImported", err)
		}
		assertNoToken(t, "error", err.Error(), a, b)
		if readFile(t, p) != stored {
			t.Error("contents changed")
		}
		if info, _ := os.Stat(p); info.Mode().Perm() != 0o600 {
			t.Errorf("mode %v", info.Mode().Perm())
		}
	})
	t.Run("a bare token file counts its whole content", func(t *testing.T) {
		// Shorter than Find's minimum for hf_oauth_, so only the bare-file
		// rule sees it.
		short := "hf_oauth_" + m.body(8)
		p := filepath.Join(dir, "token")
		writeFile(t, p, short+"\n", 0o600)
		if err := RemovePlaintext(p, []secret.Token{secret.Token(a)}); !errors.Is(err, ErrNotImported) {
			t.Fatalf("err = %v, want ErrNotImported", err)
		}
		if err := RemovePlaintext(p, []secret.Token{secret.Token(short)}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a missing file is fine", func(t *testing.T) {
		if err := RemovePlaintext(filepath.Join(dir, "nope"), nil); err != nil {
			t.Errorf("err = %v", err)
		}
	})
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), "hfbroker") {
			t.Errorf("left behind %s", e.Name())
		}
	}
}

// A FIFO at huggingface_hub's token path made 'hfbroker import' (and
// doctor) hang forever: the reader opened it, and opening a FIFO waits for
// a writer. It is refused as not a regular file instead.
func TestTheTokenReadersDoNotBlockOnAFIFO(t *testing.T) {
	dir := t.TempDir()
	pipe := filepath.Join(dir, "token")
	if err := mkfifo(pipe); err != nil {
		t.Skipf("no FIFOs on this platform: %v", err)
	}
	for name, read := range map[string]func(string) error{
		"token file":      func(p string) error { _, err := ReadTokenFile(p); return err },
		"stored_tokens":   func(p string) error { _, err := ReadStoredTokens(p); return err },
		"git credentials": func(p string) error { _, err := ReadGitCredentials(p, "huggingface.co"); return err },
	} {
		done := make(chan error, 1)
		go func() { done <- read(pipe) }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotRegular) {
				t.Errorf("%s: %v, want ErrNotRegular", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the reader blocks on a FIFO", name)
		}
	}
}
