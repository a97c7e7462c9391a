package scan

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/hfbroker/hfbroker/internal/secret"
)

const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// tokenMaker makes token-shaped strings at run time, so no file in the
// repository carries one for secret scanners to flag.
type tokenMaker struct{ r *rand.Rand }

func newTokenMaker(seed uint64) *tokenMaker {
	return &tokenMaker{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// body returns n random letters, the first upper- and the second
// lower-case so every body mixes cases as real tokens do.
func (m *tokenMaker) body(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[m.r.IntN(len(letters))]
	}
	b[0] = letters[26+m.r.IntN(26)]
	b[1] = letters[m.r.IntN(26)]
	return string(b)
}

func (m *tokenMaker) hf() string     { return "hf_" + m.body(34) }
func (m *tokenMaker) oauth() string  { return "hf_oauth_" + m.body(40) }
func (m *tokenMaker) apiOrg() string { return "api_org_" + m.body(34) }
func (m *tokenMaker) api() string    { return "api_" + m.body(34) }

// assertNoToken fails if any token appears in text, which is output, an
// error message or a log the test captured.
func assertNoToken(t *testing.T, what, text string, tokens ...string) {
	t.Helper()
	for _, tok := range tokens {
		if tok != "" && strings.Contains(text, tok) {
			t.Errorf("%s reveals a token: %q", what, text)
		}
	}
}

// requireTool returns the path of a tool the test runs. A missing tool fails
// the test unless HFBROKER_OPTIONAL_TOOLS names it (comma-separated), so CI,
// which installs everything, never skips silently.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	for _, opt := range strings.Split(os.Getenv("HFBROKER_OPTIONAL_TOOLS"), ",") {
		if strings.TrimSpace(opt) == name {
			t.Skipf("%s not installed and listed in HFBROKER_OPTIONAL_TOOLS", name)
		}
	}
	t.Fatalf("%s is required for this test: %v (set HFBROKER_OPTIONAL_TOOLS=%s to skip)", name, err, name)
	return ""
}

func writeFile(t *testing.T, path, content string, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func toTokenSet(m map[string]bool) map[secret.Token]bool {
	out := map[secret.Token]bool{}
	for k := range m {
		out[secret.Token(k)] = true
	}
	return out
}

func execCommand(name string, args ...string) *exec.Cmd { return exec.Command(name, args...) }
