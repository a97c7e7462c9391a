package hubapi_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/hfbroker/hfbroker/internal/hubapi"
)

// TestParseEndpoint is the one endpoint rule (hf-hub-auth.md §5: HH reads
// HF_ENDPOINT and rstrips "/"). config, hub, server and the proxy all call
// it; before issue 13 config accepted "…?" and the proxy refused a path that
// config and hub accepted.
func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{in: "https://huggingface.co", want: "https://huggingface.co"},
		{in: "https://huggingface.co/", want: "https://huggingface.co"},
		{in: "https://huggingface.co///", want: "https://huggingface.co"},
		{in: "HTTPS://HuggingFace.CO", want: "https://huggingface.co"},
		{in: "https://hub.example:8443", want: "https://hub.example:8443"},
		{in: "https://mirror.example/hf/", want: "https://mirror.example/hf"},
		{in: "https://mirror.example/a%20b", want: "https://mirror.example/a%20b"},
		{in: "http://127.0.0.1:8080", want: "http://127.0.0.1:8080"},
		{in: "http://[::1]:8080/", want: "http://[::1]:8080"},
		{in: "http://LocalHost:1", want: "http://localhost:1"},

		{in: "", err: hubapi.ErrBadEndpoint},
		{in: "huggingface.co", err: hubapi.ErrBadEndpoint},
		{in: "/api", err: hubapi.ErrBadEndpoint},
		{in: "ftp://huggingface.co", err: hubapi.ErrBadEndpoint},
		{in: "https:huggingface.co", err: hubapi.ErrBadEndpoint},
		{in: "https://", err: hubapi.ErrBadEndpoint},
		{in: "https://user:pw@huggingface.co", err: hubapi.ErrBadEndpoint},
		{in: "https://huggingface.co?x=1", err: hubapi.ErrBadEndpoint},
		{in: "https://huggingface.co?", err: hubapi.ErrBadEndpoint},
		{in: "https://huggingface.co/?", err: hubapi.ErrBadEndpoint},
		{in: "https://huggingface.co#f", err: hubapi.ErrBadEndpoint},
		{in: "https://huggingface.co#", err: hubapi.ErrBadEndpoint},
		{in: "https://hugging face.co", err: hubapi.ErrBadEndpoint},
		{in: "https://huggingface.co\n", err: hubapi.ErrBadEndpoint},

		{in: "http://huggingface.co", err: hubapi.ErrInsecureEndpoint},
		{in: "http://127.0.0.1.nip.io", err: hubapi.ErrInsecureEndpoint},
		{in: "http://localhost.", err: hubapi.ErrInsecureEndpoint},
		{in: "http://localhoſt", err: hubapi.ErrInsecureEndpoint},
		{in: "http://10.0.0.1", err: hubapi.ErrInsecureEndpoint},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := hubapi.NormalizeEndpoint(tc.in)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("NormalizeEndpoint(%q) = %q, %v; want %v", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("NormalizeEndpoint(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			// Normal form is a fixed point.
			if again, err := hubapi.NormalizeEndpoint(got); err != nil || again != got {
				t.Fatalf("NormalizeEndpoint(%q) = %q, %v; not a fixed point", got, again, err)
			}
		})
	}
}

// TestParseEndpointErrorsHideWhatMayBeASecret: a token pasted into the
// endpoint's user info, query or fragment never shows in the error.
func TestParseEndpointErrorsHideWhatMayBeASecret(t *testing.T) {
	const tok = "hf_abcdefghijklmnopqrstuvwxyzABCDEFGH"
	for _, in := range []string{
		"https://u:" + tok + "@huggingface.co",
		"https://" + tok + "@huggingface.co",
		"https://huggingface.co?token=" + tok,
		"https://huggingface.co/#" + tok,
		"http://" + tok + "@example.com?x",
		"ftp://x@y/" + "?" + tok,
		"https://huggingface.co/\x7f?" + tok,
	} {
		_, err := hubapi.ParseEndpoint(in)
		if err == nil {
			t.Fatalf("ParseEndpoint(%q) accepted", in)
		}
		if strings.Contains(err.Error(), tok) || strings.Contains(err.Error(), tok[:10]) {
			t.Fatalf("ParseEndpoint error shows the token: %v", err)
		}
	}
}

// TestIsLoopback is the one loopback rule: what may use plain http.
func TestIsLoopback(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"LOCALHOST", true},
		{"127.0.0.1", true},
		{"127.1.2.3", true},
		{"::1", true},
		{"::ffff:127.0.0.1", true},

		{"", false},
		{"localhost.", false},
		{"localhost:80", false},
		{"[::1]", false},
		{"localhoſt", false}, // U+017F folds to 's' under strings.EqualFold
		{"127.0.0.1.nip.io", false},
		{"0.0.0.0", false},
		{"::", false},
		{"10.0.0.1", false},
		{"huggingface.co", false},
		{"2130706433", false},
	}
	for _, tc := range tests {
		if got := hubapi.IsLoopback(tc.host); got != tc.want {
			t.Errorf("IsLoopback(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}

// TestValidRepoParts: the proxy's segment check is ParseRepo's rule.
func TestValidRepoParts(t *testing.T) {
	tests := []struct {
		ns, name string
		want     bool
	}{
		{"acme", "llm", true},
		{"Acme-Org", "Llama_3.1-8B", true},
		{"acme", strings.Repeat("a", hubapi.MaxNameLen), true},
		{strings.Repeat("a", hubapi.MaxNameLen), "llm", true},

		{"acme", strings.Repeat("a", hubapi.MaxNameLen+1), false},
		{strings.Repeat("a", hubapi.MaxNameLen+1), "llm", false},
		{"", "llm", false},
		{"acme", "", false},
		{"acme", "l--m", false},
		{"acme", "l..m", false},
		{"acme", "-llm", false},
		{"acme", "llm.", false},
		{"acme", "llm.git", false},
		{"acme", "ll%2fm", false},
		{"acme", "..", false},
	}
	for _, tc := range tests {
		got := hubapi.ValidRepoParts(tc.ns, tc.name)
		if got != tc.want {
			t.Errorf("ValidRepoParts(%q, %q) = %v, want %v", tc.ns, tc.name, got, tc.want)
		}
		_, err := hubapi.ParseRepo(tc.ns+"/"+tc.name, hubapi.RepoModel)
		if (err == nil) != tc.want {
			t.Errorf("ParseRepo(%q) = %v, but ValidRepoParts says %v", tc.ns+"/"+tc.name, err, tc.want)
		}
	}
}

// FuzzParseEndpoint: whatever is accepted is https or loopback http, has no
// user info, query or fragment, and is its own normal form.
func FuzzParseEndpoint(f *testing.F) {
	for _, s := range []string{"https://huggingface.co/", "http://127.0.0.1:1", "http://[::1]/x", "https://a@b?c#d", "HTTP://LOCALHOST"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		u, err := hubapi.ParseEndpoint(in)
		if err != nil {
			return
		}
		if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
			t.Fatalf("%q: accepted %v", in, u)
		}
		if u.Scheme != "https" && !(u.Scheme == "http" && hubapi.IsLoopback(u.Hostname())) {
			t.Fatalf("%q: accepted scheme %q for host %q", in, u.Scheme, u.Hostname())
		}
		again, err := hubapi.NormalizeEndpoint(u.String())
		if err != nil || again != u.String() {
			t.Fatalf("%q: normal form %q reads back as %q, %v", in, u.String(), again, err)
		}
	})
}
