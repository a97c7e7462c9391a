package gittest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestLFSIsServedAsTheHubServesIt: an upload batch needs a credential that
// may write and answers a presigned storage href and a verify href on the
// server; storage takes the upload only without Authorization; verify
// needs a writer and the uploaded size; a download batch then answers a
// presigned href for the content.
func TestLFSIsServedAsTheHubServesIt(t *testing.T) {
	s := New(t, Options{Authorize: onlyUserP(true), LFS: true})
	s.CreateRepo("acme/llm")
	content := []byte("weights")
	sum := sha256.Sum256(content)
	oid := hex.EncodeToString(sum[:])
	post := func(path, user, pass, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", s.URL(path), strings.NewReader(body))
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}
	action := func(m map[string]any, name string) string {
		objs, _ := m["objects"].([]any)
		if len(objs) != 1 {
			t.Fatalf("answer %v: want one object", m)
		}
		acts, _ := objs[0].(map[string]any)["actions"].(map[string]any)
		a, _ := acts[name].(map[string]any)
		href, _ := a["href"].(string)
		return href
	}
	upload := `{"operation":"upload","objects":[{"oid":"` + oid + `","size":7}]}`
	if code, _ := post("acme/llm.git/info/lfs/objects/batch", "", "", upload); code != http.StatusUnauthorized {
		t.Errorf("a batch without credentials: %d, want 401", code)
	}
	if code, _ := post("acme/llm.git/info/lfs/objects/batch", "u", "bad", upload); code != http.StatusUnauthorized {
		t.Errorf("a batch with a bad password: %d, want 401", code)
	}
	code, m := post("acme/llm.git/info/lfs/objects/batch", "u", "p", upload)
	put, verify := action(m, "upload"), action(m, "verify")
	if code != 200 || !strings.HasPrefix(put, s.StorageURL()+"/lfs/acme/llm/") || verify != s.URL("acme/llm.git/info/lfs/objects/verify") {
		t.Fatalf("upload batch: %d, upload %q, verify %q", code, put, verify)
	}

	send := func(method, url string, body []byte, auth bool) int {
		t.Helper()
		req, _ := http.NewRequest(method, url, bytes.NewReader(body))
		if auth {
			req.SetBasicAuth("u", "p")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := send("PUT", put, content, true); code != http.StatusBadRequest || s.StorageRefusals() != 1 {
		t.Errorf("an upload with Authorization: %d (refusals %d), want 400", code, s.StorageRefusals())
	}
	if code := send("PUT", put+"0", content, false); code != http.StatusForbidden {
		t.Errorf("an upload with a bad signature: %d, want 403", code)
	}
	if code := send("PUT", put, content, false); code != 200 {
		t.Fatalf("a presigned upload: %d", code)
	}
	if code, _ := post("acme/llm.git/info/lfs/objects/verify", "u", "bad", `{"oid":"`+oid+`","size":7}`); code != http.StatusUnauthorized {
		t.Errorf("verify with a bad password: %d, want 401", code)
	}
	if _, verified := s.LFSObject("acme/llm", oid); verified {
		t.Errorf("the object is verified before verify")
	}
	if code, _ := post("acme/llm.git/info/lfs/objects/verify", "u", "p", `{"oid":"`+oid+`","size":7}`); code != 200 {
		t.Errorf("verify: %d", code)
	}
	if got, verified := s.LFSObject("acme/llm", oid); !bytes.Equal(got, content) || !verified {
		t.Errorf("LFSObject = %q, %v", got, verified)
	}

	code, m = post("acme/llm.git/info/lfs/objects/batch", "u", "p", `{"operation":"download","objects":[{"oid":"`+oid+`","size":7}]}`)
	get := action(m, "download")
	if code != 200 || get == "" {
		t.Fatalf("download batch: %d %v", code, m)
	}
	res, err := http.Get(get)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if got, _ := io.ReadAll(res.Body); res.StatusCode != 200 || !bytes.Equal(got, content) {
		t.Errorf("presigned download: %d %q", res.StatusCode, got)
	}
}
