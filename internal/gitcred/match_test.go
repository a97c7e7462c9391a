package gitcred

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

var hfEndpoint = mustURL("https://huggingface.co")

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// §5 item 8. Only protocol=https and the endpoint's exact host answer.
func TestMatchAnswersOnlyForTheEndpoint(t *testing.T) {
	tests := []struct {
		name     string
		protocol string
		host     string
		endpoint string
		wantHost string // empty: refused with ErrNoMatch
	}{
		{"the endpoint's own host matches", "https", "huggingface.co", "https://huggingface.co", "huggingface.co"},
		{"host case is folded", "https", "HuggingFace.CO", "https://huggingface.co", "huggingface.co"},
		{"endpoint case is folded", "https", "huggingface.co", "https://HuggingFace.co", "huggingface.co"},
		{"the default https port matches the portless endpoint", "https", "huggingface.co:443", "https://huggingface.co", "huggingface.co"},
		{"a portless host matches an endpoint with the default port", "https", "huggingface.co", "https://huggingface.co:443/", "huggingface.co"},
		{"an endpoint path is ignored", "https", "hub.example", "https://hub.example/mirror", "hub.example"},
		{"a custom port must be sent", "https", "hub.example:8443", "https://hub.example:8443", "hub.example:8443"},
		{"http on 127.0.0.1 matches a loopback endpoint", "http", "127.0.0.1:8080", "http://127.0.0.1:8080", "127.0.0.1:8080"},
		{"http on localhost matches a localhost endpoint", "http", "LOCALHOST:1234", "http://localhost:1234", "localhost:1234"},
		{"http on ::1 matches an IPv6 loopback endpoint", "http", "[::1]:5000", "http://[::1]:5000", "[::1]:5000"},
		{"the default http port matches on loopback", "http", "127.0.0.1:80", "http://127.0.0.1", "127.0.0.1"},

		// CVE-2020-11008: no protocol or host must not mean "any".
		{"a missing host is refused", "https", "", "https://huggingface.co", ""},
		{"a missing protocol is refused", "", "huggingface.co", "https://huggingface.co", ""},
		{"plain http is refused for an https endpoint", "http", "huggingface.co", "https://huggingface.co", ""},
		{"uppercase HTTPS is refused", "HTTPS", "huggingface.co", "https://huggingface.co", ""},
		{"https is refused for an http loopback endpoint", "https", "127.0.0.1:8080", "http://127.0.0.1:8080", ""},
		{"another port is refused", "https", "huggingface.co:8443", "https://huggingface.co", ""},
		{"the portless host is refused for an endpoint with a custom port", "https", "hub.example", "https://hub.example:8443", ""},
		{"an empty port is refused", "https", "huggingface.co:", "https://huggingface.co", ""},
		// VS Code's unanchored /github\.com/i matched github.com.attacker.example.
		{"a suffix-extended host is refused", "https", "huggingface.co.evil.com", "https://huggingface.co", ""},
		{"a host with the endpoint as a path is refused", "https", "evil.com/huggingface.co", "https://huggingface.co", ""},
		{"a host with the endpoint as user info is refused", "https", "huggingface.co@evil.com", "https://huggingface.co", ""},
		{"a subdomain is refused", "https", "evil.huggingface.co", "https://huggingface.co", ""},
		{"a trailing dot is refused", "https", "huggingface.co.", "https://huggingface.co", ""},
		{"another host is refused", "https", "evil.example", "https://huggingface.co", ""},
		{"surrounding spaces are refused", "https", " huggingface.co", "https://huggingface.co", ""},
		// strings.ToLower maps U+212A KELVIN SIGN to 'k'; ASCII folding must not.
		{"a Unicode look-alike that folds to the host is refused", "https", "hub.\u212aaggle.example", "https://hub.kaggle.example", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := &Request{Protocol: tc.protocol, Host: tc.host}
			got, err := Match(req, mustURL(tc.endpoint))
			if tc.wantHost == "" {
				if !errors.Is(err, ErrNoMatch) {
					t.Fatalf("Match = %+v, %v; want ErrNoMatch", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Match = %v, want a match", err)
			}
			if got.Host != tc.wantHost || got.Repo != nil {
				t.Errorf("Match = %+v, want host %q and no repo", got, tc.wantHost)
			}
		})
	}
}

func TestMatchRefusesEndpointsItMustNeverServe(t *testing.T) {
	req := &Request{Protocol: "http", Host: "example.com"}
	for _, ep := range []string{"http://example.com", "http://127.0.0.1.example.com", "ftp://127.0.0.1", "huggingface.co", "file:///tmp/x"} {
		t.Run(ep, func(t *testing.T) {
			if _, err := Match(req, mustURL(ep)); !errors.Is(err, ErrBadEndpoint) {
				t.Fatalf("Match(%q) = %v, want ErrBadEndpoint", ep, err)
			}
		})
	}
	if _, err := Match(req, nil); !errors.Is(err, ErrBadEndpoint) {
		t.Fatalf("Match(nil endpoint) = %v, want ErrBadEndpoint", err)
	}
	if _, err := Match(nil, hfEndpoint); !errors.Is(err, ErrNoMatch) {
		t.Fatalf("Match(nil request) = %v, want ErrNoMatch", err)
	}
}

// The request comes through Parse here, as the CLI will use it.
func TestMatchParsedRequests(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // RepoPath.String(), "none" for no repo, "" for refusal
	}{
		{"a plain get request matches without a repo", "protocol=https\nhost=huggingface.co\n\n", "none"},
		{"a url-only request matches like git would", "url=https://huggingface.co/acme/llm.git\n", "model:acme/llm"},
		{"an empty host is refused", "protocol=https\nhost=\n", ""},
		{"a request with no host line is refused", "protocol=https\npath=acme/llm\n", ""},
		{"a protocol=http request is refused", "protocol=http\nhost=huggingface.co\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Match(mustParse(t, tc.in), hfEndpoint)
			switch {
			case tc.want == "":
				if !errors.Is(err, ErrNoMatch) {
					t.Fatalf("Match = %+v, %v; want ErrNoMatch", got, err)
				}
			case err != nil:
				t.Fatalf("Match = %v", err)
			case tc.want == "none" && got.Repo != nil, tc.want != "none" && (got.Repo == nil || got.Repo.String() != tc.want):
				t.Fatalf("Match = %+v, want repo %s", got, tc.want)
			}
		})
	}
}

func TestMatchRoutesTheRepoFromThePath(t *testing.T) {
	tests := []struct {
		path string
		want string // RepoPath.String(), or "" for ErrBadRepoPath
	}{
		{"acme/llm", "model:acme/llm"},
		{"acme/llm.git", "model:acme/llm"},
		{"/acme/llm/", "model:acme/llm"},
		{"models/acme/llm", "model:acme/llm"},
		{"datasets/acme/data", "dataset:acme/data"},
		{"datasets/acme/data.git", "dataset:acme/data"},
		{"spaces/acme/demo.git", "space:acme/demo"},
		{"acme/llm.git/info/lfs", "model:acme/llm"},
		{"acme/llm.git/info/lfs/objects/batch", "model:acme/llm"},
		{"datasets/acme/data.git/info/lfs/locks/verify", "dataset:acme/data"},
		{"acme/llm/info/refs", "model:acme/llm"},
		{"acme/llm.git/info/refs", "model:acme/llm"},
		{"acme/llm.git/git-upload-pack", "model:acme/llm"},
		{"spaces/acme/demo/git-receive-pack", "space:acme/demo"},
		{"Acme-Org/Llama_3.1-8B", "model:Acme-Org/Llama_3.1-8B"},

		{"llm", ""},
		{"acme", ""},
		{"acme/llm/extra", ""},
		{"datasets/acme", ""},
		{"spaces/acme.git", ""},
		{"models/llm", ""},
		{"models/acme/llm/extra", ""},
		{"buckets/acme/x", ""},
		{"acme/../evil", ""},
		{"../acme/llm", ""},
		{"acme/./llm", ""},
		{"acme//llm", ""},
		{"acme/llm%2fx", ""},
		{"acme/-llm", ""},
		{"acme/llm-", ""},
		{"acme/l--m", ""},
		{"acme/l..m", ""},
		{"acme/.git", ""},
		{"acme/ll m", ""},
		{"acme/llm?x", ""},
		// The Hub's limit is 96 characters per part (hubapi.MaxNameLen),
		// the same rule the daemon applies; it once was 96 for the whole id here.
		{"acme/" + strings.Repeat("a", 96), "model:acme/" + strings.Repeat("a", 96)},
		{"acme/" + strings.Repeat("a", 97), ""},
		{strings.Repeat("a", 97) + "/llm", ""},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			got, err := Match(&Request{Protocol: "https", Host: "huggingface.co", Path: tc.path}, hfEndpoint)
			if tc.want == "" {
				if !errors.Is(err, ErrBadRepoPath) {
					t.Fatalf("Match = %+v, %v; want ErrBadRepoPath", got, err)
				}
				return
			}
			if err != nil || got.Repo == nil || got.Repo.String() != tc.want {
				t.Fatalf("Match = %+v, %v; want %s", got, err, tc.want)
			}
		})
	}
}

// A Hub served below a path (hubapi.ParseEndpoint allows one): git names
// its repos with that path in front, and only those are the endpoint's.
// The helper refused them all as "not a Hub repository", so git prompted.
func TestMatchReadsTheRepoBelowTheEndpointsPath(t *testing.T) {
	endpoint := mustURL("https://hub.example:8443/mirror/hf")
	tests := []struct {
		path string
		want string // RepoPath.String(); "none" for no repo, "bad" for ErrBadRepoPath, "" for ErrNoMatch
	}{
		{"mirror/hf/acme/llm.git", "model:acme/llm"},
		{"/mirror/hf/datasets/acme/data.git/info/lfs/objects/batch", "dataset:acme/data"},
		{"mirror/hf/spaces/acme/demo", "space:acme/demo"},
		// huggingface_hub's login and logout name the endpoint itself
		// (git credential approve/reject url={ENDPOINT}).
		{"mirror/hf", "none"},
		{"/mirror/hf/", "none"},
		{"mirror/hf/acme", "bad"},
		{"acme/llm.git", ""},
		{"mirror/acme/llm.git", ""},
		{"mirror/hfx/acme/llm.git", ""},
		{"Mirror/hf/acme/llm.git", ""},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			got, err := Match(&Request{Protocol: "https", Host: "hub.example:8443", Path: tc.path}, endpoint)
			switch tc.want {
			case "":
				if !errors.Is(err, ErrNoMatch) {
					t.Fatalf("Match = %+v, %v; want ErrNoMatch", got, err)
				}
			case "none":
				if err != nil || got.Repo != nil || got.Host != "hub.example:8443" {
					t.Fatalf("Match = %+v, %v; want the endpoint and no repo", got, err)
				}
			case "bad":
				if !errors.Is(err, ErrBadRepoPath) {
					t.Fatalf("Match = %+v, %v; want ErrBadRepoPath", got, err)
				}
			default:
				if err != nil || got.Repo == nil || got.Repo.String() != tc.want || got.Host != "hub.example:8443" {
					t.Fatalf("Match = %+v, %v; want %s", got, err, tc.want)
				}
			}
		})
	}
}

func TestRepoPathID(t *testing.T) {
	p := RepoPath{Type: TypeDataset, Namespace: "acme", Name: "data"}
	if p.ID() != "acme/data" || p.String() != "dataset:acme/data" {
		t.Fatalf("ID = %q, String = %q", p.ID(), p.String())
	}
}
