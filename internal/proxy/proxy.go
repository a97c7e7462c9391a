// Package proxy is the local Hub reverse proxy: it accepts lease tokens,
// enforces each lease's repos and access (and lets it read public repos,
// public.go), answers refusals as the Hub would (policy.go), and swaps in
// the real token.
//
// A child started with --proxy gets HF_TOKEN=<lease token> and
// HF_ENDPOINT=http://127.0.0.1:PORT. Every request it makes to the Hub comes
// here; the proxy looks the lease token up (Leases), checks the path and
// method against the lease (route.go, policy.go), replaces the Authorization
// header with the real token and streams the request to the lease's endpoint
// and the answer back. It never follows redirects, so the real token goes to
// the lease's endpoint and nowhere else; redirects to CDNs and presigned
// storage reach the client untouched, and the client follows them itself,
// where the most it can leak is the lease token, worthless outside the proxy.
//
// The port is TCP on loopback, which every local user can reach: OwnerOnly
// closes other uids' connections at accept (Linux), and refusals that anyone
// could cause are counted into a Summary a minute rather than logged one by
// one (refusals.go).
package proxy

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hfbroker/hfbroker/internal/hub"
	"github.com/hfbroker/hfbroker/internal/hubapi"
	"github.com/hfbroker/hfbroker/internal/secret"
)

// Lease is what the proxy needs to know about one live lease.
type Lease struct {
	ID string
	// Endpoint is the upstream Hub, e.g. https://huggingface.co. Only its
	// scheme and host are used; an endpoint with a path is refused (502)
	// rather than silently routed somewhere else.
	Endpoint string
	// Token is the real token, sent only to Endpoint.
	Token secret.Token
	// Repo limits the lease to one repository; nil allows any repo.
	Repo *hub.RepoRef
	// Write adds POST/PUT/PATCH/DELETE on the repo's paths.
	Write bool
	// Repos are the repos (or "ns/*" patterns) of a lease for several,
	// each read or write; with Repos set, Repo and Write are not read.
	Repos []Grant
	// Public lets the lease read public repos (and gated ones its token was
	// granted) outside its repos: the proxy asks the Hub with Token.
	Public bool
	// WriteHint says what would let the lease write, in the refusal of a
	// write it may not do; empty means "add --write-repo REPO" (the flag of
	// hfbroker exec). A lease of an ssh forward names hfbroker ssh's flag.
	WriteHint string
}

// Grant is one repo (or "ns/*" pattern) of a lease.
type Grant struct {
	Repo  hub.RepoRef
	Write bool
}

// grants returns the lease's repos in one form; none means any repo.
func (l Lease) grants() []Grant {
	if len(l.Repos) > 0 {
		return l.Repos
	}
	if l.Repo != nil {
		return []Grant{{Repo: *l.Repo, Write: l.Write}}
	}
	return nil
}

// anyRepo reports a lease that names no repo: it may reach any.
func (l Lease) anyRepo() bool { return len(l.Repos) == 0 && l.Repo == nil }

// grantFor finds repo among the lease's repos: whether the lease covers it,
// and with write access. A write grant wins over a read pattern.
func (l Lease) grantFor(repo hub.RepoRef) (write, ok bool) {
	if l.anyRepo() {
		return l.Write, true
	}
	for _, g := range l.grants() {
		if g.Repo.Covers(repo) {
			write, ok = write || g.Write, true
		}
	}
	return write, ok
}

// Leases finds the live lease of a lease token. A lease that has ended must
// return false, so that its token fails at once. Implementations should not
// compare tokens byte by byte in variable time: Table keys by SHA-256.
type Leases interface {
	Lookup(leaseToken string) (Lease, bool)
}

// Event is the audit record of one request through the proxy.
type Event struct {
	Time    time.Time
	LeaseID string // empty when the token matched no lease
	Method  string
	Path    string // escaped path, without the query
	Status  int
	Bytes   int64 // response body bytes sent to the client
	Denied  bool  // refused by the proxy itself (401/403/…), not by the Hub
	Reason  string
}

// Options configure New.
type Options struct {
	Leases Leases
	// Audit receives one Event per request, after the response ended, but
	// for the refusals that are only counted (see Summary). It runs on the
	// request's goroutine and should not block for long.
	Audit func(Event)
	// Summary receives, once per SummaryEvery and at Close, the counts of
	// refusals that got no Event of their own: requests without a lease,
	// a lease's refusals beyond AuditedRefusals in the window, and
	// connections from other uids (OwnerOnly). Nothing when there were none.
	Summary func(Summary)
	// SummaryEvery is the window; 0 means DefaultSummaryEvery.
	SummaryEvery time.Duration
	// AuditedRefusals is how many refusals of requests with a lease are
	// audited one by one per window; 0 means DefaultAuditedRefusals.
	AuditedRefusals int
	// Transport reaches the upstream Hub. Nil means a clone of
	// http.DefaultTransport with timeouts and no transparent compression;
	// Close closes its idle connections.
	Transport http.RoundTripper
	Logger    *slog.Logger
	// RepoInfo asks the Hub, with a lease's real token, whether a repo is
	// private (public read-through). Nil means hub.Client over Transport.
	RepoInfo func(ctx context.Context, endpoint string, tok secret.Token, repo hub.RepoRef) (*hub.RepoInfo, error)
	// EndedCause says why a lease ended, in words ("its TTL passed"), for
	// the 401 a dead lease token gets; nil, or false, says only that it
	// ended. Leases that implement EndedLeases name the lease.
	EndedCause func(id string) (string, bool)
}

// EndedLeases is implemented by a Leases that remembers, for a while, which
// lease a dead lease token belonged to (Table does).
type EndedLeases interface {
	Ended(leaseToken string) (id string, ok bool)
}

// Proxy is the http.Handler of the local Hub proxy.
type Proxy struct {
	leases    Leases
	audit     func(Event)
	transport http.RoundTripper
	own       *http.Transport // the transport New made, closed by Close
	log       *slog.Logger
	pool      *bufferPool
	tally     *tally
	repoInfo  func(ctx context.Context, endpoint string, tok secret.Token, repo hub.RepoRef) (*hub.RepoInfo, error)
	ended     func(id string) (string, bool)
	public    *publicCache
	// completions are the multipart completion URLs handed out in LFS
	// batch answers (multipart.go).
	completions *completions
}

// Messages the Hub (and huggingface_hub, which keys on the first) uses.
const (
	invalidCredentials = "Invalid credentials in Authorization header"
)

// New returns a Proxy. It panics if o.Leases is nil: a proxy without leases
// is a wiring bug, not a runtime condition.
func New(o Options) *Proxy {
	if o.Leases == nil {
		panic("proxy.New: Options.Leases is nil")
	}
	p := &Proxy{
		leases:    o.Leases,
		audit:     o.Audit,
		transport: o.Transport,
		log:       o.Logger,
		pool:      &bufferPool{},
		tally:     newTally(o.SummaryEvery, o.AuditedRefusals, o.Summary),
	}
	if p.audit == nil {
		p.audit = func(Event) {}
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.transport == nil {
		p.own = newTransport()
		p.transport = p.own
	}
	p.repoInfo, p.ended, p.public = o.RepoInfo, o.EndedCause, newPublicCache()
	p.completions = newCompletions()
	if p.repoInfo == nil {
		c := &hub.Client{HTTP: &http.Client{Transport: p.transport}}
		p.repoInfo = c.RepoInfo
	}
	return p
}

// newTransport clones http.DefaultTransport (which keeps HTTPS_PROXY support
// and HTTP/2) with the settings a proxy needs.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	// The proxy must hand bodies through as they are: with compression on,
	// the Transport would ask for gzip and unzip it, changing the
	// Content-Length and Content-Encoding the client sees.
	t.DisableCompression = true
	// A commit of many files can take a while before the Hub answers; a
	// hung upstream must still not hold a connection forever.
	t.ResponseHeaderTimeout = 5 * time.Minute
	t.MaxIdleConnsPerHost = 32
	return t
}

// Close reports the refusals counted so far (Options.Summary) and closes the
// idle upstream connections of the transport New made. Call it after the
// server has stopped.
func (p *Proxy) Close() {
	p.tally.close()
	if p.own != nil {
		p.own.CloseIdleConnections()
	}
}

// ServeHTTP checks the request against its lease and forwards it.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cw := &countingWriter{ResponseWriter: w}
	ev := Event{Time: time.Now(), Method: r.Method, Path: clip(r.URL.EscapedPath())}
	counted := false // a refusal counted in the Summary, not audited
	var refuseCode func(status int, code, reason string)
	defer func() {
		// ReverseProxy panics with http.ErrAbortHandler when a stream breaks
		// half-way; the event is still written, then the panic goes on so
		// the server drops the connection.
		v := recover()
		if v != nil && ev.Reason == "" {
			ev.Reason = "stream aborted"
		}
		ev.Status, ev.Bytes = cw.status, cw.n
		if ev.Status == 0 && v == nil {
			ev.Status = http.StatusOK
		}
		if !counted {
			p.audit(ev)
		}
		if v != nil {
			panic(v)
		}
	}()

	// git shows the text of a refusal only when it is text/plain, and asks
	// its credential helper only after a Basic challenge: a git or LFS path
	// gets its refusals in git's shape, before its lease is even looked at.
	escaped := r.URL.EscapedPath()
	rt, routeErr := parseRequest(escaped, r.URL.RawQuery) // refused below, after the lease
	kind := rt.kind
	if routeErr != nil {
		kind = kindOf(escaped) // a git path with a bad query is still git's
	}
	refuse := func(status int, reason string) { refuseCode(status, "", reason) }
	refuseCode = func(status int, code, reason string) {
		ev.Denied, ev.Reason = true, reason
		// Without a lease, anyone on the machine can send these: they are
		// counted, never logged one by one. A lease holder's refusals are
		// worth a line each, up to a budget per window.
		if ev.LeaseID == "" || !p.tally.audit() {
			counted = true
			p.tally.request(reason)
		} else {
			p.log.Info("proxy: refused", "lease", ev.LeaseID, "method", r.Method, "path", ev.Path, "status", status, "reason", reason)
		}
		if status == http.StatusUnauthorized && (kind == routeGit || kind == routeLFS) {
			cw.Header().Set("WWW-Authenticate", `Basic realm="hfbroker proxy"`)
		}
		switch kind {
		case routeGit:
			writeGitError(cw, status, code, reason)
		case routeLFS:
			writeLFSError(cw, status, code, reason)
		default:
			writeHubError(cw, status, code, reason)
		}
	}

	if !loopbackHost(r.Host) {
		// A page in a browser can make the browser send requests to
		// 127.0.0.1 under a name it controls (DNS rebinding); it still lacks
		// a lease token, but nothing legitimate uses another Host here.
		refuse(http.StatusForbidden, fmt.Sprintf("host %s is not a loopback address", clip(r.Host)))
		return
	}
	leaseToken, ok := credential(r.Header)
	// A multipart completion URL this proxy handed out comes back without
	// credentials; it stands for the lease it was handed to.
	done, completing := completion{}, false
	if !ok && r.Method == http.MethodPost && len(r.Header.Values("Authorization")) == 0 {
		if done, completing = p.completions.lookup(r.URL.RequestURI()); completing {
			leaseToken, ok = done.leaseToken, true
		}
	}
	if !ok {
		refuse(http.StatusUnauthorized, invalidCredentials)
		return
	}
	lease, ok := p.leases.Lookup(leaseToken)
	if !ok {
		if msg := p.endedMessage(leaseToken); msg != "" {
			refuse(http.StatusUnauthorized, msg)
			return
		}
		if w, can := p.leases.(Waiting); can {
			if after, reason, wait := w.Waiting(); wait {
				cw.Header().Set("Retry-After", strconv.Itoa(max(int(after/time.Second), 1)))
				refuse(http.StatusServiceUnavailable, reason)
				return
			}
		}
		refuse(http.StatusUnauthorized, invalidCredentials)
		return
	}
	ev.LeaseID = lease.ID
	upstream, err := endpointOrigin(lease.Endpoint)
	if err != nil {
		refuse(http.StatusBadGateway, fmt.Sprintf("lease %s: %v", lease.ID, err))
		return
	}
	if r.Header.Get("Upgrade") != "" {
		refuse(http.StatusForbidden, "protocol upgrades are not proxied")
		return
	}
	if o := findOverride(r); o != "" {
		refuse(http.StatusForbidden, o+" is not allowed: the hfbroker proxy decides on the request's own method and path")
		return
	}
	if completing {
		// Only to the lease's endpoint, only while the lease may still
		// write the repo, and with no token: the URL's signature is
		// its authority.
		if write, in := lease.grantFor(done.repo); !in || !write {
			refuse(http.StatusForbidden, fmt.Sprintf("lease %s may no longer write %s (LFS multipart completion)", lease.ID, done.repo))
			return
		}
		routeErr, rt = nil, route{kind: routeCompletion, repo: done.repo}
	}
	if routeErr != nil {
		refuse(http.StatusForbidden, routeErr.Error())
		return
	}
	// parseRoute accepted escaped only if it decodes without ambiguity.
	decoded, _ := url.PathUnescape(escaped)
	v := allow
	if !completing {
		v = decide(lease, r.Method, rt, clip(escaped))
	}
	if v.needDownloadBatch {
		body, err := checkDownloadBatch(r)
		if err != nil {
			if !errors.Is(err, errNotDownload) {
				refuse(http.StatusBadRequest, "cannot read the request body")
				return
			}
			refuse(http.StatusForbidden, fmt.Sprintf("lease %s: %v", lease.ID, err))
			return
		}
		r.Body = body
		v.allow, v.needDownloadBatch = true, false // keeps checkPublic
	}
	if !v.allow {
		refuseCode(cmp.Or(v.status, http.StatusForbidden), v.code, v.reason)
		return
	}
	if v.checkPublic {
		public, err := p.isPublic(r.Context(), lease, rt.repo)
		if err != nil {
			refuse(http.StatusBadGateway, fmt.Sprintf("lease %s: cannot ask the Hub whether %s is public: %v", lease.ID, rt.repo, err))
			return
		}
		if !public {
			o := outsideLease(lease, rt.repo, false)
			refuseCode(o.status, o.code, o.reason)
			return
		}
	}

	base := "http://" + r.Host
	cw.onInformational = func(h http.Header) { rewriteHeaders(h, upstream, base) }
	// An LFS batch answer is rewritten (lfs.go): read whole, so it must
	// come uncompressed.
	batch := rt.kind == routeLFS && lfsOpOf(rt.rest) == lfsBatch
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// Route by the lease's endpoint only; the incoming Host and
			// absolute-form URL are never used. Rewrite mode has already
			// dropped hop-by-hop and X-Forwarded-* headers, and none are
			// added: the Hub has no use for a loopback client address.
			pr.Out.URL.Scheme = upstream.Scheme
			// Forward exactly the path that was checked, spelled as it
			// was checked.
			pr.Out.URL.Opaque = ""
			pr.Out.URL.Path, pr.Out.URL.RawPath = decoded, escaped
			pr.Out.URL.Host = upstream.Host
			pr.Out.URL.User = nil
			pr.Out.Host = ""
			switch {
			case completing:
				pr.Out.Header.Del("Authorization")
			case rt.kind == routeGit:
				// The Hub's git endpoint takes the token as a Basic
				// password, as git sends it; the user name is ignored
				// (huggingface_hub sends "hf_user" too).
				pr.Out.SetBasicAuth("hf_user", lease.Token.Reveal())
			default:
				pr.Out.Header.Set("Authorization", "Bearer "+lease.Token.Reveal())
			}
			// Cookies are a second credential: none go up.
			pr.Out.Header.Del("Cookie")
			if batch {
				pr.Out.Header.Del("Accept-Encoding")
			}
		},
		ModifyResponse: func(res *http.Response) error {
			rewriteHeaders(res.Header, upstream, base)
			// ...and none come down: a session cookie would outlive the
			// lease in the child's hands.
			res.Header.Del("Set-Cookie")
			if batch && res.StatusCode/100 == 2 {
				x := batchRewrite{upstream: upstream, base: base, real: lease.Token.Reveal(), lease: leaseToken,
					completion: func(uri string) { p.completions.add(uri, leaseToken, rt.repo) }}
				if err := x.rewriteResponse(res); err != nil {
					ev.Denied, ev.Reason = true, err.Error()
					p.log.Warn("proxy: LFS batch answer refused", "lease", lease.ID, "path", ev.Path, "err", err)
					refuseResponse(res, http.StatusBadGateway, err.Error())
				}
			}
			return nil
		},
		Transport:     p.transport,
		FlushInterval: -1,
		BufferPool:    p.pool,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			// The error names the upstream URL, never its headers.
			ev.Reason = "upstream: " + err.Error()
			p.log.Warn("proxy: upstream request failed", "lease", lease.ID, "method", r.Method, "path", ev.Path, "err", err)
			writeError(w, http.StatusBadGateway, "hfbroker proxy: the Hub at "+upstream.Host+" could not be reached")
		},
	}
	p.log.Debug("proxy: forward", "lease", lease.ID, "method", r.Method, "path", ev.Path)
	rp.ServeHTTP(cw, r)
}

// credential returns the lease token of the request's single Authorization
// header: a Bearer token, as Hub clients send it, or the password of Basic
// credentials, as git and git-lfs send what hfbroker's git helper answered
// (the user name is anything).
func credential(h http.Header) (string, bool) {
	vals := h.Values("Authorization")
	if len(vals) != 1 {
		return "", false
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(vals[0]), " ")
	if !ok {
		return "", false
	}
	switch {
	case strings.EqualFold(scheme, "Bearer"):
	case strings.EqualFold(scheme, "Basic"):
		userPass, err := base64.StdEncoding.DecodeString(strings.TrimSpace(tok))
		if err != nil {
			return "", false
		}
		if _, tok, ok = strings.Cut(string(userPass), ":"); !ok {
			return "", false
		}
	default:
		return "", false
	}
	tok = strings.TrimSpace(tok)
	if tok == "" || len(tok) > secret.MaxLen {
		return "", false
	}
	return tok, true
}

// loopbackHost reports whether a Host header is a loopback name or address
// with, at most, a numeric port. It is strict because the proxy writes the
// Host back into the Location and Link headers it rewrites.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, port, err := net.SplitHostPort(hostport); err == nil {
		if port == "" || strings.Trim(port, "0123456789") != "" {
			return false
		}
		host = h
	} else if strings.HasPrefix(hostport, "[") {
		host = strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
	}
	return hubapi.IsLoopback(host)
}

// endpointOrigin parses a lease's endpoint (hubapi.ParseEndpoint, the one
// endpoint rule) into scheme and host. The proxy forwards to the origin
// only, so it refuses an endpoint with a path rather than drop the path.
func endpointOrigin(endpoint string) (*url.URL, error) {
	u, err := hubapi.ParseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	if u.Path != "" {
		return nil, fmt.Errorf("the endpoint %s is not an http(s)://host origin", clip(u.Redacted()))
	}
	return u, nil
}

// writeError answers as the Hub does: the message in X-Error-Message (which
// huggingface_hub reads) and in a JSON body {"error": …}.
func writeError(w http.ResponseWriter, status int, msg string) { writeHubError(w, status, "", msg) }

// writeGitError is writeHubError for git: git prints a refusal's body, line
// by line after "remote: ", only when it is text/plain. A repo outside the
// lease reads as the Hub's own "Repository not found".
func writeGitError(w http.ResponseWriter, status int, code, msg string) {
	h := w.Header()
	if code != "" {
		h.Set("X-Error-Code", code)
	}
	h.Set("X-Error-Message", msg)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	if code == "RepoNotFound" {
		msg = "Repository not found: " + msg
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, "hfbroker proxy: "+msg+"\n")
}

// writeLFSError is writeHubError for git-lfs, which shows the "message" of
// an error's JSON body (the LFS API's error shape) and ignores "error".
func writeLFSError(w http.ResponseWriter, status int, code, msg string) {
	h := w.Header()
	if code != "" {
		h.Set("X-Error-Code", code)
	}
	h.Set("Content-Type", "application/json; charset=utf-8") // git-lfs reads JSON of either type
	h.Set("X-Error-Message", msg)
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(lfsErrorBody(msg))
}

// lfsErrorBody is the JSON body of an LFS refusal: git-lfs shows
// "message", huggingface_hub reads "error".
func lfsErrorBody(msg string) []byte {
	body, _ := json.Marshal(map[string]string{"message": "hfbroker proxy: " + msg, "error": msg})
	return body
}

// writeHubError is writeError with the Hub's X-Error-Code, when not "".
func writeHubError(w http.ResponseWriter, status int, code, msg string) {
	h := w.Header()
	if code != "" {
		h.Set("X-Error-Code", code)
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Error-Message", msg)
	h.Set("X-Content-Type-Options", "nosniff")
	body, _ := json.Marshal(map[string]string{"error": msg})
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// rewrittenHeaders carry absolute Hub URLs that clients call back with their
// token: redirects, the Xet token refresh route (Link rel="xet-auth" and
// X-Xet-Refresh-Route). huggingface_hub rewrites some of them itself, but
// huggingface.js does not.
var rewrittenHeaders = []string{"Location", "Content-Location", "X-Xet-Refresh-Route"}

// rewriteHeaders points absolute URLs of the upstream origin at the proxy's
// base. URLs of other hosts (CDNs, presigned storage, Xet CAS) and relative
// ones are left alone.
func rewriteHeaders(h http.Header, upstream *url.URL, base string) {
	for _, k := range rewrittenHeaders {
		vals := h.Values(k)
		for i, v := range vals {
			vals[i] = rewriteURL(v, upstream, base)
		}
	}
	links := h.Values("Link")
	for i, v := range links {
		links[i] = rewriteLink(v, upstream, base)
	}
}

// rewriteLink rewrites each <URL> of a Link header value (RFC 8288).
func rewriteLink(v string, upstream *url.URL, base string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			break
		}
		b.WriteString(v[:i+1])
		b.WriteString(rewriteURL(v[i+1:i+j], upstream, base))
		b.WriteByte('>')
		v = v[i+j+1:]
	}
	b.WriteString(v)
	return b.String()
}

// rewriteURL swaps the origin of raw for base when raw is an absolute URL of
// the upstream origin, keeping its path, query and fragment byte for byte.
func rewriteURL(raw string, upstream *url.URL, base string) string {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.User != nil || !sameOrigin(u, upstream) {
		return raw
	}
	after := raw[strings.Index(raw, "://")+3:]
	rest := ""
	if j := strings.IndexAny(after, "/?#"); j >= 0 {
		rest = after[j:]
	}
	return base + rest
}

// sameOrigin compares scheme, host and port, with default ports filled in.
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) &&
		strings.EqualFold(a.Hostname(), b.Hostname()) &&
		portOf(a) == portOf(b)
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}

// countingWriter counts the body bytes sent and keeps the status, for the
// audit event. It passes Flush through (and Unwrap for
// http.ResponseController), so streaming stays streaming.
type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
	// onInformational fixes the headers of a forwarded 1xx response (103
	// Early Hints may carry Link), which skip ModifyResponse.
	onInformational func(http.Header)
}

func (c *countingWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 {
		if c.onInformational != nil {
			c.onInformational(c.Header())
		}
	} else if c.status == 0 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	n, err := c.ResponseWriter.Write(b)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) Flush() {
	_ = http.NewResponseController(c.ResponseWriter).Flush()
}

func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// bufferPool hands ReverseProxy 256 KiB copy buffers, so a stream of large
// files does not allocate one per request.
type bufferPool struct{ p sync.Pool }

const bufSize = 256 << 10

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, bufSize)
}

func (b *bufferPool) Put(buf []byte) {
	if cap(buf) == bufSize {
		buf = buf[:bufSize]
		b.p.Put(&buf)
	}
}
