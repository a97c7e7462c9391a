package proxy

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The Git LFS API through the proxy.
//
// git-lfs posts a batch ({repo}.git/info/lfs/objects/batch) and the Hub
// answers, per object, actions: an href to call and the headers to send
// with it (git-lfs docs/api/batch.md). The Hub's upload and download hrefs
// are presigned URLs on storage hosts, authorised by their query; its
// verify href is on the Hub itself, and git-lfs posts it with the header the
// action names, else with the credential git's helper gives for the href's
// host. Passed through unchanged, the answer would send git-lfs to the Hub
// with a lease token it cannot use there, and any action header in which
// the Hub echoes the credential it was sent would hand the real token to the
// client. So the proxy rewrites a successful batch answer (rewriteBatch):
//   - an href on the lease's endpoint (same scheme, host and port, default
//     ports filled in, host without regard to case) becomes the same path
//     and query on the proxy, which checks it against the lease like any
//     request (verify is a write) and forwards it with the real token;
//   - an href on any other host (presigned storage) is left as it is;
//   - the Hub's multipart completion URL (an action whose header has
//     chunk_size) points at the proxy too, but clients post it without a
//     credential: the proxy remembers it for the lease (multipart.go);
//   - an action header holding the real token in any form (as it is, in a
//     Bearer value, in the base64 of Basic "user:token", or base64 of it at
//     any alignment) is rewritten to the same form with the lease token
//     when its href now points at the proxy (git-lfs then authenticates
//     there without asking its helper), and dropped when the href is
//     another host's: the lease token is worth nothing there, and storage
//     refuses a second credential;
//   - if the real token is still anywhere in the answer after that, in any
//     decoded string, the answer is refused (502) rather than sent.
//
// The answer is read whole, at most maxBatchAnswer bytes, uncompressed
// (the proxy asks the Hub for identity encoding on the batch route).

// maxBatchAnswer bounds the batch answer the proxy reads to rewrite. An
// answer for git-lfs's 100 objects is a few hundred KiB even with
// presigned URLs; a multipart upload lists one URL per part (about 1 KiB
// each, 3,200 parts for a 50 GB file at 16 MB), so 16 MiB leaves room.
const maxBatchAnswer = 16 << 20

// lfsOp is which LFS API route a routeLFS request addresses.
type lfsOp uint8

const (
	lfsUnknown     lfsOp = iota
	lfsBatch             // POST objects/batch: read or write by its operation
	lfsVerify            // POST objects/verify: after an upload, a write
	lfsLocks             // GET locks lists (read), POST locks creates (write)
	lfsLocksVerify       // POST locks/verify: git-lfs lists locks before a push, a read
	lfsUnlock            // POST locks/ID/unlock: a write
)

// lfsOpOf reads the LFS route from the segments after "NAME.git";
// matchRoute made sure they start with info/lfs and that the two after it
// are words.
func lfsOpOf(rest []string) lfsOp {
	switch {
	case len(rest) == 4 && word(rest, 2) == "objects" && word(rest, 3) == "batch":
		return lfsBatch
	case len(rest) == 4 && word(rest, 2) == "objects" && word(rest, 3) == "verify":
		return lfsVerify
	case len(rest) == 3 && word(rest, 2) == "locks":
		return lfsLocks
	case len(rest) == 4 && word(rest, 2) == "locks" && word(rest, 3) == "verify":
		return lfsLocksVerify
	case len(rest) == 5 && word(rest, 2) == "locks" && word(rest, 4) == "unlock":
		return lfsUnlock
	}
	return lfsUnknown
}

// errBatchAnswer is wrapped by rewriteBatch's errors: the answer is not sent.
var errBatchAnswer = errors.New("the Hub's LFS batch answer")

// batchRewrite is what rewriteBatch needs for one answer.
type batchRewrite struct {
	upstream *url.URL // the lease's endpoint
	base     string   // the proxy's own URL, http://127.0.0.1:PORT
	real     string   // the real token
	lease    string   // the lease token the client sent
	// completion, when set, is told the request URI of each multipart
	// completion href pointed at the proxy (multipart.go); when nil,
	// those hrefs stay as the Hub sent them.
	completion func(requestURI string)
}

// readBatchAnswer reads and rewrites an answer body (see the comment at the
// top of this file).
func (x batchRewrite) readBatchAnswer(body io.Reader) ([]byte, error) {
	buf, err := io.ReadAll(io.LimitReader(body, maxBatchAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("%w could not be read: %v", errBatchAnswer, err)
	}
	if len(buf) > maxBatchAnswer {
		return nil, fmt.Errorf("%w is over %d MiB", errBatchAnswer, maxBatchAnswer>>20)
	}
	return x.rewriteBatch(buf)
}

// rewriteResponse puts the rewritten answer in res, or returns why it
// cannot be sent.
func (x batchRewrite) rewriteResponse(res *http.Response) error {
	defer res.Body.Close()
	if ce := res.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		if !routeWord(ce) {
			ce = "otherwise"
		}
		return fmt.Errorf("%w is %s-encoded", errBatchAnswer, ce)
	}
	out, err := x.readBatchAnswer(res.Body)
	if err != nil {
		if x.carriesToken(err.Error()) {
			// Parts of the error are the Hub's text; none may show the
			// token.
			return fmt.Errorf("%w cannot be rewritten", errBatchAnswer)
		}
		return err
	}
	setBody(res, out)
	return nil
}

// setBody replaces a response's body with b.
func setBody(res *http.Response, b []byte) {
	res.Body = io.NopCloser(bytes.NewReader(b))
	res.ContentLength = int64(len(b))
	res.TransferEncoding = nil
	res.Header.Set("Content-Length", strconv.Itoa(len(b)))
	res.Header.Del("Content-Encoding")
	res.Header.Del("Content-MD5")
	res.Header.Del("ETag")
}

// refuseResponse turns an upstream answer into the proxy's LFS refusal
// (writeLFSError's shape): a one-line message that git-lfs shows.
func refuseResponse(res *http.Response, status int, msg string) {
	res.StatusCode, res.Status = status, fmt.Sprintf("%d %s", status, http.StatusText(status))
	for k := range res.Header {
		delete(res.Header, k)
	}
	res.Header.Set("Content-Type", "application/json; charset=utf-8")
	res.Header.Set("X-Error-Message", msg)
	res.Header.Set("X-Content-Type-Options", "nosniff")
	setBody(res, lfsErrorBody(msg))
}

// rewriteBatch rewrites a whole batch answer.
func (x batchRewrite) rewriteBatch(body []byte) ([]byte, error) {
	bad := fmt.Errorf("%w is not a JSON object with an objects list", errBatchAnswer)
	var top map[string]json.RawMessage
	if err := decodeOne(body, &top); err != nil || top == nil {
		return nil, bad
	}
	if raw, ok := top["objects"]; ok && string(raw) != "null" {
		var objs []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &objs); err != nil {
			return nil, bad
		}
		for _, obj := range objs {
			raw, ok := obj["actions"]
			if !ok || string(raw) == "null" {
				continue
			}
			var acts map[string]map[string]json.RawMessage
			if err := json.Unmarshal(raw, &acts); err != nil {
				return nil, fmt.Errorf("%w has actions that are not objects", errBatchAnswer)
			}
			for name, act := range acts {
				if act == nil {
					continue
				}
				if err := x.rewriteAction(act); err != nil {
					return nil, fmt.Errorf("%w: %s: %v", errBatchAnswer, actionName(name), err)
				}
			}
			obj["actions"] = marshal(acts)
		}
		top["objects"] = marshal(objs)
	}
	out := marshal(top)
	if x.leaks(out) {
		return nil, fmt.Errorf("%w holds the credential the proxy sent outside an action header", errBatchAnswer)
	}
	return out, nil
}

// actionName names an action in an error: one of the LFS API's, quoted,
// else only "an action" (the name is the Hub's text, and an error is shown
// and logged).
func actionName(name string) string {
	switch name {
	case "upload", "download", "verify":
		return fmt.Sprintf("action %q", name)
	}
	return "an action"
}

// rewriteAction rewrites one action's href and header in place.
func (x batchRewrite) rewriteAction(act map[string]json.RawMessage) error {
	var hdr map[string]string
	if raw, ok := act["header"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &hdr); err != nil {
			return errors.New("header is not an object of strings")
		}
	}
	toProxy := false
	if raw, ok := act["href"]; ok {
		var href string
		if err := json.Unmarshal(raw, &href); err != nil {
			return errors.New("href is not a string")
		}
		// The Hub's multipart upload: the header lists presigned part
		// URLs and chunk_size, and the href is the Hub's completion URL
		// (/api/complete_multipart?…&signature=…), which clients post
		// without a credential: its signature authorises it. It points
		// at the proxy too, which remembers it for this lease
		// (multipart.go); its header gets no lease token.
		_, multipart := hdr["chunk_size"]
		switch nh := rewriteURL(href, x.upstream, x.base); {
		case nh == href:
		case !multipart:
			toProxy = true
			act["href"] = marshal(nh)
		case x.completion != nil:
			x.completion(strings.TrimPrefix(nh, x.base))
			act["href"] = marshal(nh)
		}
	}
	if hdr == nil {
		return nil
	}
	for k, v := range hdr {
		if !x.carriesToken(k) && !x.carriesToken(v) {
			continue
		}
		if nv, ok := x.swapToken(v); ok && toProxy && !x.carriesToken(k) {
			hdr[k] = nv
			continue
		}
		delete(hdr, k)
	}
	act["header"] = marshal(hdr)
	return nil
}

// swapToken rewrites a header value that holds the real token into the same
// value with the lease token: "Bearer T", "Basic base64(user:T)" (in any of
// base64's four spellings), or T anywhere in the value. It reports false
// for anything else that carries the token (e.g. base64 of a longer text),
// which is then dropped.
func (x batchRewrite) swapToken(v string) (string, bool) {
	if scheme, cred, ok := strings.Cut(strings.TrimSpace(v), " "); ok && strings.EqualFold(scheme, "Basic") {
		cred = strings.TrimSpace(cred)
		for _, enc := range base64Encodings {
			dec, err := enc.DecodeString(cred)
			if err != nil || !strings.Contains(string(dec), x.real) {
				continue
			}
			nv := scheme + " " + enc.EncodeToString([]byte(strings.ReplaceAll(string(dec), x.real, x.lease)))
			return nv, !x.carriesToken(nv)
		}
	}
	if strings.Contains(v, x.real) {
		nv := strings.ReplaceAll(v, x.real, x.lease)
		return nv, !x.carriesToken(nv)
	}
	return "", false
}

var base64Encodings = []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding}

// tokenForms are the substrings by which the real token shows in a text:
// itself, and its base64 at each of the three alignments a prefix (such as
// "user:") can give it, in both alphabets. Only the characters that depend
// on the token's bytes alone are kept, so the form is found whatever comes
// before or after it.
func tokenForms(tok string) []string {
	forms := []string{tok}
	for k := 0; k < 3; k++ {
		in := append(make([]byte, k), tok...)
		enc := base64.RawStdEncoding.EncodeToString(in)
		start := (8*k + 5) / 6   // characters that hold bits of the prefix
		end := (8 * len(in)) / 6 // characters wholly before what follows
		if end > start {
			std := enc[start:end]
			forms = append(forms, std, strings.NewReplacer("+", "-", "/", "_").Replace(std))
		}
	}
	return forms
}

// carriesToken reports whether s holds the real token in a form that
// tokenForms knows, as it is or once percent-decoded.
func (x batchRewrite) carriesToken(s string) bool {
	if x.real == "" {
		return false
	}
	cands := []string{s}
	if dec, err := url.PathUnescape(s); err == nil && dec != s {
		cands = append(cands, dec)
	}
	for _, c := range cands {
		for _, f := range tokenForms(x.real) {
			if strings.Contains(c, f) {
				return true
			}
		}
	}
	return false
}

// leaks reports whether the real token is in a rewritten answer: in its
// bytes or in any decoded key or string of it (a JSON escape such as
// \u005f would hide it from the bytes).
func (x batchRewrite) leaks(out []byte) bool {
	if x.carriesToken(string(out)) {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return !errors.Is(err, io.EOF)
		}
		if s, ok := tok.(string); ok && x.carriesToken(s) {
			return true
		}
	}
}

// decodeOne decodes exactly one JSON value from body: trailing data is an
// error, as are duplicate keys anywhere (decoders disagree on which wins).
func decodeOne(body []byte, v any) error {
	if err := checkNoDuplicateKeys(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	return nil
}

// checkNoDuplicateKeys walks body's tokens and refuses an object that names
// a key twice.
func checkNoDuplicateKeys(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		obj    bool
		keys   map[string]bool
		expect bool // an object expecting a key next
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		var top *frame
		if n := len(stack); n > 0 {
			top = stack[n-1]
		}
		if k, isKey := tok.(string); isKey && top != nil && top.obj && top.expect {
			if top.keys[k] {
				return fmt.Errorf("duplicate key %q", clip(k))
			}
			top.keys[k], top.expect = true, false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{obj: true, keys: map[string]bool{}, expect: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if n := len(stack); n > 0 && stack[n-1].obj {
			stack[n-1].expect = true
		}
	}
}

// marshal is json.Marshal without HTML escaping, so that an href's "&"
// stays "&". It is given only values decoded from valid JSON (or strings),
// which always encode.
func marshal(v any) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("proxy: re-encode a decoded LFS answer: " + err.Error())
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}
