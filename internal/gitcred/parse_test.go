package gitcred

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// secretValue stands in for a password in bad inputs; no error text may
// contain it.
const secretValue = "hf_SECRETsecretSECRETsecret0123456789"

// plain drops Request's redacting String method so test failures show every
// field; the values in these tests are not real secrets.
type plain Request

func mustParse(t *testing.T, in string) *Request {
	t.Helper()
	req, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatalf("Parse(%q) = %v, want success", in, err)
	}
	return req
}

// mustRefuse parses in, wants a *ParseError, and checks that its text does
// not carry secretValue.
func mustRefuse(t *testing.T, in string) *ParseError {
	t.Helper()
	req, err := Parse(strings.NewReader(in))
	if err == nil {
		t.Fatalf("Parse accepted a bad request, got %v", req)
	}
	var perr *ParseError
	if !errors.As(err, &perr) || !errors.Is(err, ErrMalformed) {
		t.Fatalf("Parse error = %T %v, want *ParseError matching ErrMalformed", err, err)
	}
	if strings.Contains(err.Error(), secretValue) || strings.Contains(err.Error(), "evil") {
		t.Fatalf("error text %q quotes a value", err)
	}
	return perr
}

func TestParseAcceptsWhatGitSends(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Request
	}{
		{
			name: "a get request ends at a blank line",
			in:   "protocol=https\nhost=huggingface.co\n\n",
			want: Request{Protocol: "https", Host: "huggingface.co"},
		},
		{
			name: "a request with useHttpPath carries the path",
			in:   "protocol=https\nhost=huggingface.co\npath=datasets/acme/data.git\n\n",
			want: Request{Protocol: "https", Host: "huggingface.co", Path: "datasets/acme/data.git"},
		},
		{
			name: "a request may end at EOF without a blank line",
			in:   "protocol=https\nhost=huggingface.co\n",
			want: Request{Protocol: "https", Host: "huggingface.co"},
		},
		{
			// §5 item 6.
			name: "a request may end without a final newline",
			in:   "protocol=https\nhost=huggingface.co",
			want: Request{Protocol: "https", Host: "huggingface.co"},
		},
		{
			name: "an empty request parses to nothing",
			in:   "",
			want: Request{},
		},
		{
			name: "git 2.46 capabilities, wwwauth and state are kept in order",
			in: "capability[]=authtype\ncapability[]=state\nprotocol=https\nhost=huggingface.co\n" +
				"wwwauth[]=Basic realm=\"Authentication required\"\nwwwauth[]=Bearer\nstate[]=a:1\n\n",
			want: Request{Protocol: "https", Host: "huggingface.co",
				Capabilities: []string{"authtype", "state"},
				WWWAuth:      []string{`Basic realm="Authentication required"`, "Bearer"},
				State:        []string{"a:1"}},
		},
		{
			name: "an empty key[]= clears that list as git does",
			in:   "wwwauth[]=Basic\nwwwauth[]=\nwwwauth[]=Bearer\ncapability[]=x\ncapability[]=\n",
			want: Request{WWWAuth: []string{"Bearer"}},
		},
		{
			name: "a store request carries the password and its expiry",
			in: "protocol=https\nhost=huggingface.co\nusername=hf_user\npassword=" + secretValue +
				"\npassword_expiry_utc=1900000000\noauth_refresh_token=r\n\n",
			want: Request{Protocol: "https", Host: "huggingface.co", Username: "hf_user", Password: secretValue,
				PasswordExpiryUTC: "1900000000", OAuthRefreshToken: "r"},
		},
		{
			name: "capability-gated single attributes are kept",
			in:   "authtype=Bearer\ncredential=c\nephemeral=1\ncontinue=1\nquit=1\n",
			want: Request{AuthType: "Bearer", Credential: "c", Ephemeral: "1", Continue: "1", Quit: "1"},
		},
		{
			name: "unknown attributes are kept but not interpreted",
			in:   "protocol=https\nfuture=x\nfuture=y\nempty=\nlist[]=a\nlist[]=\nlist[]=b\n",
			want: Request{Protocol: "https", Unknown: []Attr{{"future", "x"}, {"future", "y"}, {"empty", ""}, {"list[]", "b"}}},
		},
		{
			name: "a value may contain '=' and spaces",
			in:   "username= a=b \n",
			want: Request{Username: " a=b "},
		},
		{
			name: "huggingface_hub's git credential approve input derives the fields from url",
			in:   "url=https://huggingface.co\nusername=hf_user\npassword=" + secretValue + "\n\n",
			want: Request{URL: "https://huggingface.co", Protocol: "https", Host: "huggingface.co",
				Username: "hf_user", Password: secretValue},
		},
		{
			name: "huggingface_hub's git credential reject input parses",
			in:   "url=https://huggingface.co\nusername=hf_user\n\n",
			want: Request{URL: "https://huggingface.co", Protocol: "https", Host: "huggingface.co", Username: "hf_user"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := mustParse(t, tc.in)
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tc.in, plain(*got), plain(tc.want))
			}
		})
	}
}

// failingReader fails the test if the parser reads past the request.
type failingReader struct{ t *testing.T }

func (r failingReader) Read([]byte) (int, error) {
	r.t.Error("Parse read past the blank line that ends the request")
	return 0, io.ErrUnexpectedEOF
}

func TestParseStopsReadingAtTheBlankLine(t *testing.T) {
	in := io.MultiReader(strings.NewReader("protocol=https\nhost=huggingface.co\n\n"), failingReader{t})
	req, err := Parse(in)
	if err != nil || req.Host != "huggingface.co" {
		t.Fatalf("Parse = %v, %v", req, err)
	}
}

func TestParseReportsReadErrors(t *testing.T) {
	boom := errors.New("boom")
	_, err := Parse(io.MultiReader(strings.NewReader("protocol=https\n"), errReader{boom}))
	if !errors.Is(err, boom) || errors.Is(err, ErrMalformed) {
		t.Fatalf("Parse error = %v, want the reader's error", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// §5 item 1. Git's credential_read lets the last duplicate win; CVE-2020-5260
// smuggled the second host= in through a %0a in a URL. A duplicate of any
// single-valued attribute refuses the request.
func TestParseRefusesDuplicateSingleValuedAttributes(t *testing.T) {
	for key := range singleValued {
		t.Run(key, func(t *testing.T) {
			perr := mustRefuse(t, "protocol_x=1\n"+key+"=a\n"+key+"=evil\n")
			if perr.Line != 3 {
				t.Errorf("error line = %d, want 3", perr.Line)
			}
		})
	}
	t.Run("a duplicate host naming another host is refused", func(t *testing.T) {
		mustRefuse(t, "protocol=https\nhost=huggingface.co\nhost=evil.example\n\n")
	})
	t.Run("a duplicate host repeating the same value is refused too", func(t *testing.T) {
		mustRefuse(t, "protocol=https\nhost=huggingface.co\nhost=huggingface.co\n\n")
	})
}

// §5 item 2. CVE-2020-5260: "https://evil%0ahost=huggingface.co/" made git
// 2.26.0 write host=evil and host=huggingface.co; "%0aprotocol=…" likewise.
func TestParseRefusesNewlineInjectedAttributes(t *testing.T) {
	tests := []struct{ name, in string }{
		{"an injected second host is refused", "protocol=https\nhost=evil\nhost=huggingface.co\n"},
		{"an injected http protocol followed by https is refused", "protocol=http\nhost=evil\nprotocol=https\nhost=huggingface.co\n"},
		{"a url whose host decodes to a newline is refused", "url=https://evil%0ahost=huggingface.co/\n"},
		{"a url whose path decodes to a newline is refused", "url=https://huggingface.co/a%0ahost=evil/\n"},
		{"a url whose user name decodes to a newline is refused", "url=https://a%0ahost=evil@huggingface.co/\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { mustRefuse(t, tc.in) })
	}
}

// §5 item 3. CVE-2025-23040 (GitHub Desktop) and CVE-2024-50338 (Git
// Credential Manager): readers that split on a lone CR read
// "username=\rprotocol=https\rhost=github.com\r" as three attributes.
// CVE-2024-52006 is git's fix on the sending side.
func TestParseRefusesALoneCarriageReturn(t *testing.T) {
	tests := []struct{ name, in string }{
		{"CRs inside a value are refused", "username=\rprotocol=https\rhost=huggingface.co\r\n"},
		{"a CR at the end of the last line is refused", "protocol=https\nhost=huggingface.co\r"},
		{"a CR in a key is refused", "ho\rst=huggingface.co\n"},
		{"a CR-only line is refused", "protocol=https\n\r\nhost=evil\n"},
		{"the CVE-2025-23040 url is refused", "url=http://%0dprotocol=https%0dhost=github.com%0d@localhost:13337/\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { mustRefuse(t, tc.in) })
	}
}

// §5 item 4. CVE-2024-50338: git ≥ 2.40.4 sends no CR by default
// (credential.protectProtocol), so CRLF is refused rather than tolerated.
func TestParseRefusesCRLFLineEndings(t *testing.T) {
	for _, in := range []string{
		"protocol=https\r\nhost=huggingface.co\r\n\r\n",
		"protocol=https\r\nhost=huggingface.co\r\n",
	} {
		if perr := mustRefuse(t, in); perr.Line != 1 {
			t.Errorf("Parse(%q) refused line %d, want the first CRLF line 1", in, perr.Line)
		}
	}
}

// §5 item 5. Git's protocol forbids NUL; C helpers down the chain would
// truncate at it.
func TestParseRefusesNUL(t *testing.T) {
	tests := []struct{ name, in string }{
		{"a NUL in a key is refused", "ho\x00st=huggingface.co\n"},
		{"a NUL in a value is refused", "protocol=https\nhost=huggingface.co\x00.evil\n"},
		{"a NUL in the password is refused", "password=" + secretValue + "\x00\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { mustRefuse(t, tc.in) })
	}
}

func TestParseRefusesMalformedLines(t *testing.T) {
	tests := []struct{ name, in string }{
		{"a line without '=' is refused", "protocol=https\nhuggingface.co\n"},
		{"a line with an empty key is refused", "protocol=https\n=huggingface.co\n"},
		{"a password line without '=' is refused without quoting it", secretValue + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { mustRefuse(t, tc.in) })
	}
}

// §5 item 10. Values go on to the daemon as proto3 strings, which must be
// UTF-8; a defined refusal here beats a marshal error there.
func TestParseRefusesNonUTF8(t *testing.T) {
	tests := []struct{ name, in string }{
		{"non-UTF-8 bytes in the path are refused", "protocol=https\nhost=huggingface.co\npath=acme/\xff\xfe.git\n"},
		{"non-UTF-8 bytes in the username are refused", "protocol=https\nhost=huggingface.co\nusername=\xc3\x28\n"},
		{"an overlong UTF-8 encoding of '/' is refused", "path=acme\xc0\xafllm\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { mustRefuse(t, tc.in) })
	}
}

// countingReader counts the bytes the parser pulled from it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// endless repeats a pattern forever: a caller that never stops writing.
type endless struct {
	pattern string
	off     int
}

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = e.pattern[e.off]
		e.off = (e.off + 1) % len(e.pattern)
	}
	return len(p), nil
}

// §5 item 7. Long and endless inputs are refused after reading a bounded
// amount. git 71201ab0e5: fixed-size fgets buffers once split an over-long
// line into a new attribute; CVE-2025-48386: an unchecked buffer in wincred.
func TestParseRefusesOversizedInputWithBoundedReads(t *testing.T) {
	const slack = MaxLineBytes + 4096 // one bufio buffer beyond what was parsed
	tests := []struct {
		name     string
		in       io.Reader
		maxRead  int64
		wantLine int
	}{
		{
			name:     "a 65,536-byte line is refused",
			in:       strings.NewReader("protocol=https\n" + "username=" + strings.Repeat("a", 65536-9) + "\n"),
			maxRead:  MaxLineBytes + slack,
			wantLine: 2,
		},
		{
			name:     "a line of exactly 65,535 bytes without its LF is refused",
			in:       strings.NewReader("username=" + strings.Repeat("a", MaxLineBytes-9)),
			maxRead:  slack,
			wantLine: 1,
		},
		{
			name:     "a 10 MB wwwauth[] is refused after reading about one line",
			in:       strings.NewReader("protocol=https\nwwwauth[]=" + strings.Repeat("a", 10<<20) + "\n"),
			maxRead:  slack,
			wantLine: 2,
		},
		{
			name:     "100k lines are refused after line 1000",
			in:       strings.NewReader(strings.Repeat("a=b\n", 100_000)),
			maxRead:  (MaxLines+1)*4 + slack,
			wantLine: MaxLines + 1,
		},
		{
			name:     "an endless line is refused",
			in:       &endless{pattern: "a"},
			maxRead:  slack,
			wantLine: 1,
		},
		{
			name:     "endless short lines are refused after line 1000",
			in:       &endless{pattern: "wwwauth[]=x\n"},
			maxRead:  (MaxLines+1)*12 + slack,
			wantLine: MaxLines + 1,
		},
		{
			name:     "endless 2 KiB lines are refused at 1 MiB",
			in:       &endless{pattern: "wwwauth[]=" + strings.Repeat("a", 2037) + "\n"},
			maxRead:  MaxInputBytes + slack,
			wantLine: MaxInputBytes/2048 + 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cr := &countingReader{r: tc.in}
			req, err := Parse(cr)
			var perr *ParseError
			if !errors.As(err, &perr) {
				t.Fatalf("Parse = %v, %v; want a *ParseError", req, err)
			}
			if perr.Line != tc.wantLine {
				t.Errorf("refused at line %d, want %d (%v)", perr.Line, tc.wantLine, err)
			}
			if cr.n > tc.maxRead {
				t.Errorf("Parse read %d bytes, want at most %d", cr.n, tc.maxRead)
			}
		})
	}
	t.Run("a line of 65,534 bytes plus its LF is accepted", func(t *testing.T) {
		req := mustParse(t, "username="+strings.Repeat("a", MaxLineBytes-10)+"\n")
		if len(req.Username) != MaxLineBytes-10 {
			t.Errorf("username length = %d", len(req.Username))
		}
	})
	t.Run("exactly 1000 lines are accepted", func(t *testing.T) {
		req := mustParse(t, strings.Repeat("wwwauth[]=x\n", MaxLines))
		if len(req.WWWAuth) != MaxLines {
			t.Errorf("got %d wwwauth values", len(req.WWWAuth))
		}
	})
}

// §5 item 7, git's long-header test (71201ab0e5): with 1024-byte buffers the
// tail "host=huggingface.co" became its own line. Here it stays inside the
// wwwauth[] value and no host is parsed.
func TestParseLongWWWAuthDoesNotSmuggleAHost(t *testing.T) {
	header := "basic realm=" + strings.Repeat("a", 1001) + "host=huggingface.co"
	req := mustParse(t, "capability[]=authtype\nprotocol=https\nwwwauth[]="+header+"\n\n")
	if req.Host != "" {
		t.Fatalf("host = %q, want none", req.Host)
	}
	if len(req.WWWAuth) != 1 || req.WWWAuth[0] != header {
		t.Fatalf("wwwauth = %q, want the whole header as one value", req.WWWAuth)
	}
	if _, err := Match(req, hfEndpoint); !errors.Is(err, ErrNoMatch) {
		t.Fatalf("Match = %v, want ErrNoMatch", err)
	}
}

// §5 item 9.
func TestParseURL(t *testing.T) {
	accepted := []struct {
		name string
		in   string
		want Request
	}{
		{
			name: "a url alone derives protocol and host",
			in:   "url=https://huggingface.co\n",
			want: Request{URL: "https://huggingface.co", Protocol: "https", Host: "huggingface.co"},
		},
		{
			name: "a url derives the path without its slashes",
			in:   "url=https://huggingface.co/datasets/acme/data.git/\n",
			want: Request{URL: "https://huggingface.co/datasets/acme/data.git/", Protocol: "https",
				Host: "huggingface.co", Path: "datasets/acme/data.git"},
		},
		{
			name: "a url derives user and password, percent-decoded",
			in:   "url=https://hf%5Fuser:p%40ss@huggingface.co:443/acme/llm\n",
			want: Request{URL: "https://hf%5Fuser:p%40ss@huggingface.co:443/acme/llm", Protocol: "https",
				Host: "huggingface.co:443", Path: "acme/llm", Username: "hf_user", Password: "p@ss"},
		},
		{
			name: "a url agreeing with explicit attributes is accepted, explicit values kept",
			in:   "protocol=https\nhost=HuggingFace.co\nurl=https://huggingface.co/acme/llm\npath=acme/llm\n",
			want: Request{URL: "https://huggingface.co/acme/llm", Protocol: "https", Host: "HuggingFace.co", Path: "acme/llm"},
		},
	}
	for _, tc := range accepted {
		t.Run(tc.name, func(t *testing.T) {
			got := mustParse(t, tc.in)
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tc.in, plain(*got), plain(tc.want))
			}
		})
	}
	refused := []struct{ name, in string }{
		// CVE-2020-11008: an empty pattern must not match everything.
		{"an empty url= is refused", "url=\n"},
		{"an empty url= beside a host is refused", "protocol=https\nhost=huggingface.co\nurl=\n"},
		{"a url with an empty host is refused", "url=https:///huggingface.co\n"},
		{"a url without a scheme is refused", "url=huggingface.co/acme/llm\n"},
		{"a url with an empty scheme is refused", "url=://huggingface.co\n"},
		{"a url whose host disagrees with host= is refused", "protocol=https\nhost=huggingface.co\nurl=https://evil.example/\n"},
		{"a url whose host disagrees with a later host= is refused", "url=https://huggingface.co/\nhost=evil.example\n"},
		{"a url whose protocol disagrees with protocol= is refused", "protocol=https\nurl=http://huggingface.co/\n"},
		{"a url whose port disagrees with host= is refused", "host=huggingface.co\nurl=https://huggingface.co:8443/\n"},
		{"a url whose path disagrees with path= is refused", "path=acme/llm\nurl=https://huggingface.co/evil/llm\n"},
		{"a url whose user disagrees with username= is refused", "username=a\nurl=https://b@huggingface.co/\n"},
		{"a url whose password disagrees with password= is refused", "password=" + secretValue + "\nurl=https://u:x@huggingface.co/\n"},
		{"a url that git and net/url split at different '@' is refused", "url=https://a@evil@huggingface.co/\n"},
		{"a url with an escaped slash in the host is refused", "url=https://huggingface.co%2fevil/\n"},
		{"a url with a query is refused", "url=https://huggingface.co/?host=evil\n"},
		{"a url with a fragment is refused", "url=https://huggingface.co/#evil\n"},
		{"a url with a tab is refused", "url=https://hugging\tface.co/\n"},
		{"a url with an escaped control character in the path is refused", "url=https://huggingface.co/%1b[31m\n"},
		{"a url with a bad port is refused", "url=https://huggingface.co:evil/\n"},
		{"a url with a bad escape is refused", "url=https://huggingface.co/%zz\n"},
		{"a duplicate url is refused", "url=https://huggingface.co\nurl=https://evil.example\n"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) { mustRefuse(t, tc.in) })
	}
}

func TestRequestStringRedactsThePassword(t *testing.T) {
	req := mustParse(t, "protocol=https\nhost=huggingface.co\npassword="+secretValue+"\n")
	for _, s := range []string{req.String(), req.GoString()} {
		if strings.Contains(s, secretValue) {
			t.Errorf("%q contains the password", s)
		}
		if !strings.Contains(s, "huggingface.co") {
			t.Errorf("%q lost the host", s)
		}
	}
}
