//go:build unix

package front

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hfbroker/hfbroker/internal/gitcred"
	"github.com/hfbroker/hfbroker/internal/hubapi"
)

var gitRequestSeeds = []string{
	"protocol=https\nhost=huggingface.co\npath=acme/llm.git\n\n",
	"protocol=https\nhost=huggingface.co\nusername=u\npassword=hf_x\n\nafter",
	"protocol=https\nhost=huggingface.co",
	"protocol=https\nprotocol=http\n\n",
	"url=https://huggingface.co/acme/llm\n\n",
	"capability[]=authtype\nwwwauth[]=Basic realm=x\nwwwauth[]=\nstate[]=a\nfoo[]=\nfoo=bar\n\n",
	"protocol=http\nno-equals-sign\n\n",
	"=x\n", "host=a\rb\n", "host=a\x00b\n", "host=\xff\n", "\n", "",
	"protocol=https\n" + strings.Repeat("x", 65534) + "=\n",
	"protocol=https\nhost=h:443\npassword=p=q\n\n",
}

// FuzzReadGitRequestIsGitcreds: what the front reads of a request,
// gitcred.Parse reads alike; what it hands over, gitcred refuses or needs
// net/url for (url=).
func FuzzReadGitRequestIsGitcreds(f *testing.F) {
	for _, s := range gitRequestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		req, read, ok := readGitRequest(bytes.NewReader(in))
		if !bytes.HasPrefix(in, read) {
			t.Fatalf("read %q is not what came in", read)
		}
		want, err := gitcred.Parse(bytes.NewReader(in))
		if !ok {
			if err == nil && want.URL == "" {
				t.Fatalf("%q: the front hands over what gitcred reads: %#v", in, want)
			}
			return
		}
		if err != nil || want.URL != "" {
			t.Fatalf("%q: the front read %+v; gitcred: %v (url %q)", in, req, err, want.URL)
		}
		if req.protocol != want.Protocol || req.host != want.Host || req.path != want.Path || req.password != want.Password {
			t.Fatalf("%q: front %+v; gitcred %#v", in, req, want)
		}
		if end := requestEnd(in); end >= 0 && len(read) < end {
			t.Fatalf("%q: read %d bytes, less than the request's %d", in, len(read), end)
		}
	})
}

// A request larger than gitcred takes is handed over, not read on forever.
func TestReadGitRequestStopsAtGitcredsBounds(t *testing.T) {
	long := "host=" + strings.Repeat("a", maxGitLine) + "\n\n"
	many := strings.Repeat("k=v\n", maxGitLines+1) + "\n"
	huge := strings.Repeat("k="+strings.Repeat("v", 1000)+"\n", 1100) + "\n"
	for name, in := range map[string]string{"a long line": long, "many lines": many, "a huge request": huge} {
		if _, _, ok := readGitRequest(strings.NewReader(in)); ok {
			t.Errorf("%s: read", name)
		}
		if _, err := gitcred.Parse(strings.NewReader(in)); err == nil {
			t.Errorf("%s: gitcred reads it; the bound moved", name)
		}
	}
}

// FuzzMatchGitIsGitcreds: against every endpoint the front recognises,
// matchGit and gitcred.Match name the same host and repo, or both decline.
func FuzzMatchGitIsGitcreds(f *testing.F) {
	for _, s := range []struct{ ep, protocol, host, path string }{
		{"https://huggingface.co", "https", "huggingface.co", "acme/llm.git"},
		{"https://huggingface.co", "https", "HuggingFace.co:443", "datasets/acme/c.git/info/lfs/objects/batch"},
		{"https://huggingface.co", "https", "github.com", "acme/llm.git"},
		{"https://huggingface.co", "http", "huggingface.co", ""},
		{"http://127.0.0.1:8080", "http", "127.0.0.1:8080", "spaces/a/b/info/refs"},
		{"http://localhost", "http", "localhost:80", "models/x"},
		{"https://huggingface.co", "https", "huggingface.co", "acme"},
		{"https://hf.example:8443/mirror", "https", "hf.example:8443", "mirror/acme/llm.git"},
		{"https://hf.example/a/b/", "https", "hf.example", "/a/b/datasets/acme/c.git/info/lfs"},
		{"https://hf.example/mirror", "https", "hf.example", "mirrorx/acme/llm"},
		{"https://hf.example/mirror", "https", "hf.example", "acme/llm"},
		{"https://hf.example/mirror", "https", "hf.example", "mirror"},
	} {
		f.Add(s.ep, s.protocol, s.host, s.path)
	}
	f.Fuzz(func(t *testing.T, ep, protocol, host, path string) {
		h, ok := parseEndpoint(ep)
		if !ok {
			return
		}
		u, err := hubapi.ParseEndpoint(ep)
		if err != nil {
			t.Fatal(err)
		}
		gotHost, gotRepo, outcome := matchGit(gitRequest{protocol: protocol, host: host, path: path}, h)
		target, err := gitcred.Match(&gitcred.Request{Protocol: protocol, Host: host, Path: path}, u)
		switch {
		case errors.Is(err, gitcred.ErrNoMatch):
			if outcome != gitOther {
				t.Fatalf("gitcred: no match (%v); front %d", err, outcome)
			}
		case err != nil:
			if outcome != gitRefused {
				t.Fatalf("gitcred: %v; front %d", err, outcome)
			}
		default:
			if outcome != gitOurs || gotHost != target.Host || (gotRepo == nil) != (target.Repo == nil) {
				t.Fatalf("gitcred %+v; front %d %q %+v", target, outcome, gotHost, gotRepo)
			}
			if gotRepo != nil && (repoText(gotRepo) != repoText(&repo{typ: gitRepoTypeOf(target.Repo.Type), id: target.Repo.ID()}) || gotRepo.id != target.Repo.ID()) {
				t.Fatalf("gitcred %+v; front %+v", target.Repo, gotRepo)
			}
		}
	})
}

func gitRepoTypeOf(t string) int {
	switch t {
	case gitcred.TypeDataset:
		return repoTypeDataset
	case gitcred.TypeSpace:
		return repoTypeSpace
	}
	return repoTypeModel
}

// The front's answer is gitcred.WriteAnswer's, byte for byte, refusals
// included.
func TestGitAnswerIsGitcreds(t *testing.T) {
	for _, c := range []gitcred.Answer{
		{Username: "alice", Password: "hf_x"},
		{Username: "alice", Password: "hf_x", PasswordExpiry: time.Unix(1800000000, 5)},
		{Username: "", Password: "hf_x"},
		{Username: "a", Password: ""},
		{Username: "a\nb", Password: "hf_x"},
		{Username: "a", Password: "hf\r"},
		{Username: "a", Password: "hf\x00"},
		{Username: "a", Password: strings.Repeat("x", maxGitLine)},
		{Username: "a", Password: "hf_x", PasswordExpiry: time.Unix(-5, 0)},
		{Username: "a", Password: "hf_x", PasswordExpiry: time.Unix(0, 0)},
	} {
		var want bytes.Buffer
		err := gitcred.WriteAnswer(&want, c)
		got, bad := gitAnswer(c.Username, c.Password, c.PasswordExpiry)
		switch {
		case err != nil && bad != err.Error():
			t.Errorf("%q: front %q; gitcred %v", c.Username, bad, err)
		case err == nil && (bad != "" || !bytes.Equal(got, want.Bytes())):
			t.Errorf("%q: front %q %q; gitcred %q", c.Username, got, bad, want.Bytes())
		}
	}
}

// requestEnd is the length of the request in b up to and including its
// blank line, or -1 while there is none.
func requestEnd(b []byte) int {
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		if j == 0 {
			return i + 1
		}
		i += j + 1
	}
	return -1
}
