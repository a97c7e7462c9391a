package hubtest

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hfbroker/hfbroker/internal/hub"
)

// Files: the fake serves a repo's files on main as the Hub does, enough for
// real clients (huggingface.js downloadFile and uploadFile, huggingface_hub
// hf_hub_download): GET and HEAD on /{repo}/resolve/{rev}/{path}, with
// ranges and an ETag; POST /api/{type}s/{repo}/preupload/{rev}, which sends
// every file "regular"; and POST /api/{type}s/{repo}/commit/{rev}, the
// NDJSON commit with base64 file contents. Access is decided by Check, as
// for every other route.

// AddFile puts a file on a repo's main branch.
func (h *Hub) AddFile(repoID, path string, content []byte) {
	h.t.Helper()
	ref, err := hub.ParseRepo(repoID, hub.RepoModel)
	if err != nil {
		h.t.Fatalf("hubtest: AddFile: %v", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.repos[ref]
	if r == nil {
		h.t.Fatalf("hubtest: AddFile: no repo %s", repoID)
	}
	h.putLocked(r, path, content)
}

// File returns a file of a repo's main branch.
func (h *Hub) File(repoID, path string) ([]byte, bool) {
	ref, err := hub.ParseRepo(repoID, hub.RepoModel)
	if err != nil {
		return nil, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.repos[ref]
	if r == nil {
		return nil, false
	}
	b, ok := r.files[path]
	return b, ok
}

func (h *Hub) putLocked(r *repo, path string, content []byte) {
	if r.files == nil {
		r.files = map[string][]byte{}
	}
	r.files[path] = bytes.Clone(content)
}

// parseContentPath reads /[TYPEs/]NS/NAME/resolve/REV/PATH and
// /api/TYPEs/NS/NAME/{preupload,commit}/REV.
func parseContentPath(p string) (ref hub.RepoRef, kind, path string, ok bool) {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if len(parts) == 6 && parts[0] == "api" && (parts[4] == "preupload" || parts[4] == "commit") {
		ref, err := hub.ParseRepo(strings.Join(parts[1:4], "/"), hub.RepoModel)
		return ref, parts[4], "", err == nil && strings.HasSuffix(parts[1], "s")
	}
	if len(parts) > 0 && (parts[0] == "datasets" || parts[0] == "spaces") {
		if len(parts) < 6 || parts[3] != "resolve" {
			return ref, "", "", false
		}
		ref, err := hub.ParseRepo(strings.Join(parts[:3], "/"), hub.RepoModel)
		return ref, "resolve", strings.Join(parts[5:], "/"), err == nil
	}
	if len(parts) < 5 || parts[2] != "resolve" || parts[0] == "api" {
		return ref, "", "", false
	}
	ref, err := hub.ParseRepo(parts[0]+"/"+parts[1], hub.RepoModel)
	return ref, "resolve", strings.Join(parts[4:], "/"), err == nil
}

func (h *Hub) content(w http.ResponseWriter, r *http.Request, raw string, ref hub.RepoRef, kind, path string) {
	write := kind != "resolve"
	if write != (r.Method == http.MethodPost) || (!write && r.Method != http.MethodGet && r.Method != http.MethodHead) {
		writeError(w, http.StatusMethodNotAllowed, "", "Method not allowed")
		return
	}
	if d := h.Check(raw, ref, write); !d.Allowed() {
		d.write(w)
		return
	}
	switch kind {
	case "resolve":
		h.mu.Lock()
		b, ok := h.repos[ref].files[path]
		h.mu.Unlock()
		if !ok {
			w.Header().Set("X-Repo-Commit", strings.Repeat("0", 40))
			writeError(w, http.StatusNotFound, "EntryNotFound", "Entry not found")
			return
		}
		w.Header().Set("ETag", fmt.Sprintf(`"%x"`, len(b)))
		w.Header().Set("X-Repo-Commit", strings.Repeat("0", 40))
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
	case "preupload":
		var req struct {
			Files []struct{ Path string } `json:"files"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "", "bad preupload body")
			return
		}
		out := []map[string]any{}
		for _, f := range req.Files {
			out = append(out, map[string]any{"path": f.Path, "uploadMode": "regular", "shouldIgnore": false})
		}
		writeJSON(w, http.StatusOK, map[string]any{"files": out, "commitOid": strings.Repeat("0", 40)})
	case "commit":
		sc := bufio.NewScanner(io.LimitReader(r.Body, 16<<20))
		sc.Buffer(nil, 16<<20)
		files := map[string][]byte{}
		for sc.Scan() {
			var line struct {
				Key   string `json:"key"`
				Value struct {
					Path     string `json:"path"`
					Content  string `json:"content"`
					Encoding string `json:"encoding"`
				} `json:"value"`
			}
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				writeError(w, http.StatusBadRequest, "", "bad commit line")
				return
			}
			if line.Key != "file" {
				continue
			}
			b := []byte(line.Value.Content)
			if line.Value.Encoding == "base64" {
				var err error
				if b, err = base64.StdEncoding.DecodeString(line.Value.Content); err != nil {
					writeError(w, http.StatusBadRequest, "", "bad base64")
					return
				}
			}
			files[line.Value.Path] = b
		}
		h.mu.Lock()
		for p, b := range files {
			h.putLocked(h.repos[ref], p, b)
		}
		h.mu.Unlock()
		oid := strings.Repeat("1", 40)
		writeJSON(w, http.StatusOK, map[string]any{"success": true, "commitOid": oid, "commitUrl": h.srv.URL + ref.WebPath() + "/commit/" + oid})
	}
}
