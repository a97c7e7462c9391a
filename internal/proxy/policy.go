package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/hfbroker/hfbroker/internal/hub"
)

// verdict is the lease check's answer for one request.
type verdict struct {
	allow bool
	// needDownloadBatch: allowed only if the body is an LFS batch request
	// whose operation is "download" (a read lease posting to the batch API).
	needDownloadBatch bool
	// checkPublic: allowed only if the repo, which the lease does not name,
	// is public (public read-through): the caller asks the Hub.
	checkPublic bool
	// status and code shape a refusal as the Hub's answer for the same
	// situation (see refusal); 0 means 403 without a code.
	status int
	code   string
	reason string
}

func deny(format string, args ...any) verdict {
	return verdict{reason: fmt.Sprintf(format, args...)}
}

var allow = verdict{allow: true}

// Refusals shaped as the Hub's, so that clients raise the error they would
// for the Hub (huggingface_hub utils/_http.py hf_raise_for_status, at commit
// 01dd37b):
//   - `elif error_code == "RepoNotFound" or (...)` -> RepositoryNotFoundError.
//     A repo outside the lease answers 404 + X-Error-Code: RepoNotFound, as
//     the Hub answers for a private repo the token cannot see. It must not be
//     a bare 403: on the HEAD of a download, file_download.py
//     _raise_on_head_call_error re-raises only RepositoryNotFoundError,
//     GatedRepoError and 401s, and turns every other HTTP error into
//     LocalEntryNotFoundError "... Please check your connection" - what
//     users saw for the proxy's 403s.
//   - `elif error_code == "GatedRepo"` -> GatedRepoError: the Hub's own
//     answer for a gated repo passes through the proxy unchanged.
//   - `elif response.status_code == 403:` -> HfHubHTTPError
//     "403 Forbidden: <X-Error-Message>." A write to a repo the lease only
//     reads: X-Error-Message names the lease and the flag that allows it.
//   - 401 without a RepoNotFound code on an http:// URL (REPO_API_REGEX is
//     ^https:// only) -> HfHubHTTPError 401, which _raise_on_head_call_error
//     re-raises too: an ended lease.
//
// _format appends X-Error-Message (and the JSON body's "error") to the
// message, so the reason reaches the user even on a HEAD.
func outsideLease(l Lease, repo hub.RepoRef, write bool) verdict {
	flag := "--repo"
	if write {
		flag = "--write-repo"
	}
	return verdict{status: http.StatusNotFound, code: "RepoNotFound",
		reason: fmt.Sprintf("lease %s %s; add %s %s", l.ID, coverText(l), flag, repo)}
}

func readOnly(l Lease, repo hub.RepoRef, what string) verdict {
	if l.WriteHint != "" {
		return deny("lease %s may only read %s (%s); %s", l.ID, repo, what, l.WriteHint)
	}
	return deny("lease %s may only read %s (%s); add --write-repo %s", l.ID, repo, what, repo)
}

// coverText says what a lease covers: "covers acme/llm only".
func coverText(l Lease) string {
	gs := l.grants()
	names := make([]string, 0, min(len(gs), 4))
	for i, g := range gs {
		if i == 3 {
			names = append(names, fmt.Sprintf("and %d more", len(gs)-3))
			break
		}
		names = append(names, g.Repo.String())
	}
	s := "covers " + strings.Join(names, ", ") + " only"
	if l.Public {
		s += " (and public repos)"
	}
	return s
}

// isRead reports whether m is a method that only reads.
func isRead(m string) bool { return m == http.MethodGet || m == http.MethodHead }

// isWrite reports whether m is one of the methods a write lease adds.
func isWrite(m string) bool {
	return m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch || m == http.MethodDelete
}

// readOnlyPOSTs are the repo API sub-routes that clients call with POST but
// that only read. Each needs a reason; anything not here is a write.
var readOnlyPOSTs = map[string]string{
	// huggingface_hub get_paths_info (and HfFileSystem) POST a list of paths
	// to /api/{type}s/NS/NAME/paths-info/REV and get their metadata back.
	"paths-info": "huggingface_hub get_paths_info lists file metadata with a POST",
}

// decide checks one request against a lease. It does not look at the body;
// a verdict with needDownloadBatch asks the caller to, one with checkPublic
// to ask the Hub whether the repo is public.
func decide(l Lease, method string, rt route, escapedPath string) verdict {
	if !isRead(method) && !isWrite(method) {
		return deny("method %s is not allowed through the hfbroker proxy", method)
	}
	switch rt.kind {
	case routeWhoami:
		if !isRead(method) {
			return deny("%s %s is not allowed: only GET", method, escapedPath)
		}
		return allow
	case routeList:
		if !l.anyRepo() {
			return deny("lease %s is for %s: listing %s is not allowed", l.ID, l.grants()[0].Repo, rt.repo.Type.Plural())
		}
		if !isRead(method) {
			return deny("%s %s is not allowed: only GET", method, escapedPath)
		}
		return allow
	}

	write, in := l.grantFor(rt.repo)
	if !in {
		// Public read-through: what a read lease for the repo may do,
		// once the Hub has said the repo is public.
		v := decideRepo(Lease{ID: l.ID}, false, method, rt, escapedPath)
		if !l.Public || (!v.allow && !v.needDownloadBatch) {
			return outsideLease(l, rt.repo, !v.allow && !v.needDownloadBatch)
		}
		v.checkPublic = true
		return v
	}
	return decideRepo(l, write, method, rt, escapedPath)
}

// decideRepo checks a request on a repo the lease covers, with write access
// or not.
func decideRepo(l Lease, write bool, method string, rt route, escapedPath string) verdict {
	switch rt.kind {
	case routeResolve, routeResolveCache:
		if !isRead(method) {
			return deny("%s %s is not allowed: downloads are GET or HEAD", method, escapedPath)
		}
		return allow
	case routeRepoAPI:
		// The sub-route in lower case: the Hub routes …/SETTINGS as
		// …/settings, and parseRoute made sure it is a plain word.
		sub := word(rt.rest, 0)
		// A lease, even a write one, is for a job's content, not the repo's
		// administration: PUT …/settings flips visibility and gating, which
		// could publish a private repo. That stays with the real token.
		if sub == "settings" && !isRead(method) {
			return deny("lease %s cannot change the settings of %s", l.ID, rt.repo)
		}
		if isRead(method) {
			// xet-write-token is a GET, but the CAS token it mints can
			// upload: it belongs to writes.
			if sub == "xet-write-token" && !write {
				return readOnly(l, rt.repo, "a Xet write token uploads")
			}
			// auth-check/write (huggingface_hub auth_check(write=True))
			// asks whether the caller may push. The Hub answers for the
			// real token; a read lease must hear no, as its push would.
			// auth-check has no other sub-route, so any segment after it
			// ("write%2F", "WRITE") is taken for that question.
			if sub == "auth-check" && len(rt.rest) > 1 && !write {
				return readOnly(l, rt.repo, method+" "+escapedPath)
			}
			return allow
		}
		if method == http.MethodPost && len(rt.rest) >= 1 {
			if _, ok := readOnlyPOSTs[sub]; ok {
				return allow
			}
		}
		if !write {
			return readOnly(l, rt.repo, method+" "+escapedPath)
		}
		return allow
	case routeLFS:
		// The LFS API's routes (lfs.go), each a POST but the lock list;
		// anything else below info/lfs is no route the Hub serves.
		op := lfsOpOf(rt.rest)
		switch {
		case op == lfsUnknown:
			return deny("%s is not a Git LFS API route the hfbroker proxy forwards (objects/batch, objects/verify, locks)", escapedPath)
		case op == lfsLocks && isRead(method):
			return allow // the lock list
		case method != http.MethodPost:
			return deny("%s %s is not allowed: the LFS API takes a POST there", method, escapedPath)
		case write:
			return allow
		case op == lfsBatch:
			// A read lease may POST the batch API only to download: the
			// operation is in the body, so the caller peeks at it.
			return verdict{needDownloadBatch: true}
		case op == lfsLocksVerify:
			// git-lfs lists the locks before a push; listing is a read.
			return allow
		case op == lfsVerify:
			return readOnly(l, rt.repo, "LFS verify of an upload")
		}
		return readOnly(l, rt.repo, "LFS lock "+escapedPath)
	case routeGit:
		// Discovery is a GET, the service a POST; nothing else is git's.
		if refs := len(rt.rest) == 2; refs && !isRead(method) || !refs && method != http.MethodPost {
			return deny("%s %s is not allowed: git's info/refs is a GET, its services a POST", method, escapedPath)
		}
		// upload-pack only reads, though it is a POST, like paths-info.
		if rt.service == gitReceivePack && !write {
			return readOnly(l, rt.repo, "git push")
		}
		return allow
	}
	return deny("%s: %s", errPath.Error(), escapedPath)
}

// sameRepo compares repo ids as the Hub does: the type exactly, the
// namespace and name without regard to case.
func sameRepo(a, b hub.RepoRef) bool {
	return a.Type == b.Type && strings.EqualFold(a.Namespace, b.Namespace) && strings.EqualFold(a.Name, b.Name)
}

// overrideHeaders ask a server to take the method, or the path, from a
// header rather than from the request line: the Rails, Express, Symfony and
// IIS conventions. The proxy decides on the request line, so a header that
// turns a checked GET into a DELETE upstream, or a checked path into another,
// is a way around that decision. Keys are compared lower-cased with "_" read
// as "-", since a CGI or WSGI server maps both to the same variable.
var overrideHeaders = map[string]bool{
	"x-http-method-override": true,
	"x-http-method":          true,
	"x-method-override":      true,
	"x-original-method":      true,
	"x-original-url":         true,
	"x-rewrite-url":          true,
}

// overrideQuery is the query parameter method-override middlewares read
// (Rails, Express's method-override, Laravel).
const overrideQuery = "_method"

// findOverride names the first header or query parameter of r that asks the
// upstream for another method or path, or returns "".
//
// Such requests are refused, not stripped: no Hub client sends them, and
// stripping would quietly run a different operation than the client asked
// for (it meant DELETE, a GET answers 200 and it believes it deleted).
// A refusal is loud and loses nothing.
func findOverride(r *http.Request) string {
	for k := range r.Header {
		if overrideHeaders[strings.ReplaceAll(strings.ToLower(k), "_", "-")] {
			return "header " + clip(k)
		}
	}
	for _, pair := range strings.FieldsFunc(r.URL.RawQuery, func(c rune) bool { return c == '&' || c == ';' }) {
		k, _, _ := strings.Cut(pair, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if strings.EqualFold(strings.TrimSpace(k), overrideQuery) {
			return "query parameter " + overrideQuery
		}
	}
	return ""
}

// maxBatchPeek bounds how much of an LFS batch body a read lease's request
// may hold. git-lfs sends at most 100 objects per batch (about 10 KiB) and
// huggingface_hub only posts batches to upload, so 64 KiB is ample.
const maxBatchPeek = 64 << 10

// errNotDownload is wrapped by checkDownloadBatch's refusals.
var errNotDownload = errors.New("read lease may only post LFS batch downloads")

// checkDownloadBatch reads an LFS batch request body (at most maxBatchPeek
// bytes) and reports whether it asks to download. It returns the body to
// forward in its place: the bytes read, then whatever remains.
//
// The body must be a single JSON object with exactly one "operation" key
// whose value is "download": a duplicate key is refused because parsers
// disagree on which one wins. A compressed body is refused unread.
func checkDownloadBatch(r *http.Request) (io.ReadCloser, error) {
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return nil, fmt.Errorf("%w: the body is %s-encoded", errNotDownload, clip(ce))
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, maxBatchPeek+1))
	if err != nil {
		return nil, fmt.Errorf("read LFS batch body: %w", err)
	}
	if len(buf) > maxBatchPeek {
		return nil, fmt.Errorf("%w: the body is over %d KiB", errNotDownload, maxBatchPeek>>10)
	}
	if err := isDownloadBatch(buf); err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{bytes.NewReader(buf), r.Body}, nil
}

// isDownloadBatch parses a whole LFS batch body; nil means a download.
func isDownloadBatch(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("%w: the body is not a JSON object", errNotDownload)
	}
	ops := 0
	op := ""
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: bad JSON", errNotDownload)
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("%w: bad JSON", errNotDownload)
		}
		if key != "operation" {
			continue
		}
		ops++
		if err := json.Unmarshal(raw, &op); err != nil {
			return fmt.Errorf("%w: operation is not a string", errNotDownload)
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return fmt.Errorf("%w: bad JSON", errNotDownload)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the JSON object", errNotDownload)
	}
	switch {
	case ops != 1:
		return fmt.Errorf("%w: want exactly one operation, got %d", errNotDownload, ops)
	case op != "download":
		return fmt.Errorf("%w: operation is %+q", errNotDownload, clip(op))
	}
	return nil
}
