package gitcred

import (
	"bytes"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hfbroker/hfbroker/internal/hubapi"
)

// encodeRequest writes every field of req back in the wire format.
func encodeRequest(req *Request) []byte {
	var b bytes.Buffer
	put := func(k, v string) {
		b.WriteString(k + "=" + v + "\n")
	}
	for _, kv := range []struct{ k, v string }{
		{"protocol", req.Protocol}, {"host", req.Host}, {"path", req.Path},
		{"username", req.Username}, {"password", req.Password}, {"url", req.URL},
		{"password_expiry_utc", req.PasswordExpiryUTC}, {"oauth_refresh_token", req.OAuthRefreshToken},
		{"authtype", req.AuthType}, {"credential", req.Credential}, {"ephemeral", req.Ephemeral},
		{"continue", req.Continue}, {"quit", req.Quit},
	} {
		if kv.v != "" {
			put(kv.k, kv.v)
		}
	}
	for _, v := range req.Capabilities {
		put("capability[]", v)
	}
	for _, v := range req.WWWAuth {
		put("wwwauth[]", v)
	}
	for _, v := range req.State {
		put("state[]", v)
	}
	for _, a := range req.Unknown {
		put(a.Key, a.Value)
	}
	b.WriteString("\n")
	return b.Bytes()
}

func FuzzParse(f *testing.F) {
	// More seeds, one per bad input of security-notes §5, live in
	// testdata/fuzz/FuzzParse.
	f.Add([]byte("protocol=https\nhost=huggingface.co\npath=acme/llm.git\n\n"))
	f.Add([]byte("url=https://u:p@huggingface.co:443/datasets/acme/data\nusername=u\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		req, err := Parse(bytes.NewReader(in))
		if err != nil {
			var perr *ParseError
			if errors.As(err, &perr) && perr.Line < 0 {
				t.Fatalf("negative line in %v", err)
			}
			return
		}
		fields := []string{req.Protocol, req.Host, req.Path, req.Username, req.Password, req.URL,
			req.PasswordExpiryUTC, req.OAuthRefreshToken, req.AuthType, req.Credential,
			req.Ephemeral, req.Continue, req.Quit}
		fields = append(append(append(fields, req.Capabilities...), req.WWWAuth...), req.State...)
		for _, a := range req.Unknown {
			fields = append(fields, a.Key, a.Value)
		}
		for _, s := range fields {
			if strings.ContainsAny(s, "\r\n\x00") || !utf8.ValidString(s) {
				t.Fatalf("Parse accepted a value with CR, LF, NUL or bad UTF-8: %q", s)
			}
		}
		enc := encodeRequest(req)
		if len(enc) > MaxInputBytes || bytes.Count(enc, []byte("\n")) > MaxLines {
			return // url= derivation added lines past a limit; nothing to compare
		}
		again, err := Parse(bytes.NewReader(enc))
		if err != nil {
			t.Fatalf("re-encoded request %q does not parse: %v", enc, err)
		}
		if !reflect.DeepEqual(plain(*req), plain(*again)) {
			t.Fatalf("round trip changed the request\n got %+v\nwant %+v", plain(*again), plain(*req))
		}
	})
}

func FuzzMatch(f *testing.F) {
	// More seeds in testdata/fuzz/FuzzMatch.
	f.Add("https", "huggingface.co", "acme/llm.git", "https://huggingface.co")
	f.Add("http", "127.0.0.1:8080", "datasets/acme/data/info/lfs/objects/batch", "http://127.0.0.1:8080")
	f.Fuzz(func(t *testing.T, protocol, host, path, endpoint string) {
		ep, err := url.Parse(endpoint)
		if err != nil {
			return
		}
		req := &Request{Protocol: protocol, Host: host, Path: path}
		got, err := Match(req, ep)
		if err != nil {
			return
		}
		// A match means: the endpoint's own scheme, https or loopback
		// http, and the same host after ASCII folding and default ports.
		scheme := lowerASCII(ep.Scheme)
		if protocol != scheme || (scheme != "https" && !(scheme == "http" && hubapi.IsLoopback(ep.Hostname()))) {
			t.Fatalf("matched protocol %q for endpoint %q", protocol, endpoint)
		}
		h, e := lowerASCII(host), lowerASCII(ep.Host)
		def := map[string]string{"https": ":443", "http": ":80"}[scheme]
		if host == "" || (h != e && h != e+def && h+def != e) || got.Host != strings.TrimSuffix(e, def) {
			t.Fatalf("matched host %q for endpoint %q (target %q)", host, endpoint, got.Host)
		}
		if path == "" {
			if got.Repo != nil {
				t.Fatalf("repo %v without a path", got.Repo)
			}
			return
		}
		r := got.Repo
		if r == nil || (r.Type != TypeModel && r.Type != TypeDataset && r.Type != TypeSpace) ||
			!(hubapi.RepoRef{Namespace: r.Namespace, Name: r.Name}).Valid() || !strings.Contains(path, r.ID()) {
			t.Fatalf("path %q routed to %+v", path, r)
		}
	})
}
