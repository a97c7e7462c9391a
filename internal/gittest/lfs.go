package gittest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// The Git LFS batch API as the Hub serves it, for tests that run the real
// git-lfs (Options.LFS). The Hub answers a batch with actions whose upload
// and download hrefs are presigned URLs on storage hosts (S3, CloudFront:
// cdn-lfs*.hf.co) that take no Authorization header, and whose verify href
// is on the Hub itself, posted with the user's token. Here the storage is a
// second loopback server that refuses any request carrying Authorization
// (as S3 refuses two auth mechanisms) and any URL not signed by this
// server; verify takes the same credentials as git (Options.Authorize, with
// write access).
//
// Routes, below the repository in the Hub's layout with ".git" (git-lfs
// adds it to a remote URL without one):
//
//	POST {repo}.git/info/lfs/objects/batch   {"operation":"upload"|"download","objects":[{oid,size}]}
//	POST {repo}.git/info/lfs/objects/verify  {"oid","size"}
//
// The credential may come as Basic (git-lfs with git's helper) or Bearer
// (a Hub client; the hfbroker proxy swaps in the real token so).

// lfsStore is the LFS side of a Server: the objects, kept in memory, and the
// storage server their presigned URLs point at.
type lfsStore struct {
	key     []byte // signs storage URLs
	storage *httptest.Server
	mu      sync.Mutex
	objects map[string][]byte // "repo oid" -> content, once uploaded
	checked map[string]bool   // "repo oid" -> verify succeeded
	// refused counts storage requests refused for carrying Authorization.
	refused int
}

const maxLFSObject = 64 << 20

func newLFSStore() *lfsStore {
	l := &lfsStore{objects: map[string][]byte{}, checked: map[string]bool{}, key: make([]byte, 32)}
	_, _ = rand.Read(l.key)
	l.storage = httptest.NewServer(http.HandlerFunc(l.serveStorage))
	return l
}

// StorageURL is the base URL of the presigned storage server, "" when the
// server has no LFS.
func (s *Server) StorageURL() string {
	if s.lfs == nil {
		return ""
	}
	return s.lfs.storage.URL
}

// LFSObject returns the content of an uploaded LFS object of repo, and
// whether it was uploaded and verified.
func (s *Server) LFSObject(repo, oid string) (content []byte, verified bool) {
	if s.lfs == nil {
		return nil, false
	}
	s.lfs.mu.Lock()
	defer s.lfs.mu.Unlock()
	k := repo + " " + oid
	return s.lfs.objects[k], s.lfs.checked[k]
}

// StorageRefusals counts the storage requests refused because they carried
// an Authorization header: a client must never send a credential there.
func (s *Server) StorageRefusals() int {
	if s.lfs == nil {
		return 0
	}
	s.lfs.mu.Lock()
	defer s.lfs.mu.Unlock()
	return s.lfs.refused
}

func (l *lfsStore) sign(method, path string) string {
	m := hmac.New(sha256.New, l.key)
	m.Write([]byte(method + " " + path))
	return hex.EncodeToString(m.Sum(nil))
}

// presign is the storage URL of one object for one method.
func (l *lfsStore) presign(method, repo, oid string) string {
	path := "/lfs/" + repo + "/" + oid
	return l.storage.URL + path + "?X-Amz-Signature=" + l.sign(method, path)
}

// serveStorage is the presigned storage: PUT uploads, GET downloads.
func (l *lfsStore) serveStorage(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "" {
		l.mu.Lock()
		l.refused++
		l.mu.Unlock()
		http.Error(w, "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified", http.StatusBadRequest)
		return
	}
	if !hmac.Equal([]byte(r.URL.Query().Get("X-Amz-Signature")), []byte(l.sign(r.Method, r.URL.Path))) {
		http.Error(w, "SignatureDoesNotMatch", http.StatusForbidden)
		return
	}
	rest, _ := strings.CutPrefix(r.URL.Path, "/lfs/")
	i := strings.LastIndexByte(rest, '/')
	if i < 0 {
		http.NotFound(w, r)
		return
	}
	k := rest[:i] + " " + rest[i+1:]
	switch r.Method {
	case http.MethodPut:
		body, err := io.ReadAll(io.LimitReader(r.Body, maxLFSObject+1))
		if err != nil || len(body) > maxLFSObject {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != rest[i+1:] {
			http.Error(w, "BadDigest", http.StatusBadRequest)
			return
		}
		l.mu.Lock()
		l.objects[k] = body
		l.mu.Unlock()
	case http.MethodGet:
		l.mu.Lock()
		body, ok := l.objects[k]
		l.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(body)
	default:
		http.Error(w, "method", http.StatusMethodNotAllowed)
	}
}

type lfsObject struct {
	OID  string `json:"oid"`
	Size int64  `json:"size"`
}

// serveLFS answers the LFS routes of repo; rest is what follows
// "{repo}.git/info/lfs".
func (s *Server) serveLFS(w http.ResponseWriter, r *http.Request, repo, rest, user, password string) {
	l := s.lfs
	writeJSON := func(status int, v any) {
		w.Header().Set("Content-Type", "application/vnd.git-lfs+json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	fail := func(status int, msg string) { writeJSON(status, map[string]string{"message": msg}) }
	if r.Method != http.MethodPost {
		fail(http.StatusNotFound, "not found")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		fail(http.StatusBadRequest, "read body")
		return
	}
	switch rest {
	case "/objects/batch":
		var req struct {
			Operation string      `json:"operation"`
			Objects   []lfsObject `json:"objects"`
		}
		if err := json.Unmarshal(body, &req); err != nil || (req.Operation != "upload" && req.Operation != "download") {
			fail(http.StatusUnprocessableEntity, "bad batch request")
			return
		}
		write := req.Operation == "upload"
		if s.opts.Authorize != nil && !s.opts.Authorize(user, password, repo, write) {
			w.Header().Set("LFS-Authenticate", `Basic realm="`+Realm+`"`)
			fail(http.StatusUnauthorized, "Invalid username or password.")
			return
		}
		// What the Hub may echo back in an action's header: the
		// credential of the batch request, as it came in the verify
		// action (which goes to the Hub), and as Basic in another
		// header of every action: storage refuses only Authorization,
		// so a client that follows the Hub directly still works.
		echo, verifyEcho := map[string]string{}, map[string]string{}
		if s.opts.LFSEchoCredential {
			echo["X-Echo-Basic"] = "Basic " + base64.StdEncoding.EncodeToString([]byte("hf_user:"+password))
			verifyEcho = withKeys(echo, map[string]string{"Authorization": r.Header.Get("Authorization")})
		}
		hub := "http://" + r.Host
		objs := make([]map[string]any, 0, len(req.Objects))
		for _, o := range req.Objects {
			k := repo + " " + o.OID
			l.mu.Lock()
			content, have := l.objects[k]
			done := have && l.checked[k]
			l.mu.Unlock()
			obj := map[string]any{"oid": o.OID, "size": o.Size}
			switch {
			case write && done:
				// Already there: no actions, as the spec says.
			case write:
				obj["actions"] = map[string]any{
					"upload": map[string]any{"href": l.presign(http.MethodPut, repo, o.OID), "header": withKeys(echo, map[string]string{"X-Storage": "presigned"}), "expires_in": 900},
					"verify": map[string]any{"href": hub + "/" + repo + ".git/info/lfs/objects/verify", "header": verifyEcho, "expires_in": 900},
				}
			case !done || int64(len(content)) != o.Size:
				obj["error"] = map[string]any{"code": 404, "message": "Object does not exist"}
			default:
				obj["actions"] = map[string]any{
					"download": map[string]any{"href": l.presign(http.MethodGet, repo, o.OID), "header": echo, "expires_in": 900},
				}
			}
			objs = append(objs, obj)
		}
		writeJSON(http.StatusOK, map[string]any{"transfer": "basic", "objects": objs, "hash_algo": "sha256"})
	case "/objects/verify":
		if s.opts.Authorize != nil && !s.opts.Authorize(user, password, repo, true) {
			w.Header().Set("LFS-Authenticate", `Basic realm="`+Realm+`"`)
			fail(http.StatusUnauthorized, "Invalid username or password.")
			return
		}
		var o lfsObject
		if err := json.Unmarshal(body, &o); err != nil {
			fail(http.StatusUnprocessableEntity, "bad verify request")
			return
		}
		k := repo + " " + o.OID
		l.mu.Lock()
		content, have := l.objects[k]
		if have && int64(len(content)) == o.Size {
			l.checked[k] = true
		}
		l.mu.Unlock()
		if !have || int64(len(content)) != o.Size {
			fail(http.StatusNotFound, fmt.Sprintf("object %s of size %d was not uploaded", o.OID, o.Size))
			return
		}
		writeJSON(http.StatusOK, map[string]string{"message": "verified"})
	default:
		// The Hub has no LFS locking API: git-lfs warns and goes on.
		fail(http.StatusNotFound, "not found")
	}
}

func withKeys(a, b map[string]string) map[string]string {
	m := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}

// credentials reads Basic credentials, or a Bearer token as the password
// with no user name.
func credentials(r *http.Request) (user, password string, ok bool) {
	if user, password, ok = r.BasicAuth(); ok {
		return user, password, true
	}
	scheme, tok, found := strings.Cut(r.Header.Get("Authorization"), " ")
	if found && strings.EqualFold(scheme, "Bearer") && tok != "" {
		return "", tok, true
	}
	return "", "", false
}
