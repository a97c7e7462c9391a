package proxy

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// TestAnotherLocalUserIsRefusedAtTheProxyPort pins issue 19 item 6: the proxy
// is TCP on 127.0.0.1, so any local user could send it requests (and flood
// it). Now a connection opened by another uid is closed at accept, unread,
// even when it carries a valid lease token, while the owner's request works.
func TestAnotherLocalUserIsRefusedAtTheProxyPort(t *testing.T) {
	if os.Getuid() != 0 {
		if os.Getenv("HFBROKER_TEST_REQUIRE_ROOT") == "1" {
			t.Fatal("this test needs root to run a client as uid 65534 (HFBROKER_TEST_REQUIRE_ROOT=1)")
		}
		t.Skip("needs root to run a client as uid 65534; set HFBROKER_TEST_REQUIRE_ROOT=1 to make this fatal")
	}
	curl := requireTool(t, "curl")
	e := newEnvWith(t, envOptions{ownerOnly: true})
	lease := e.lease("l-owner", ref(t, "acme/llm"), false)
	const path = "/api/models/acme/llm/revision/main"

	// uid 65534 with a valid lease token: refused before a byte is read.
	const nobody = 65534
	cmd := exec.Command(curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer "+lease, e.url+path)
	cmd.Dir = "/"
	cmd.Env = childEnv(e, lease)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	_ = cmd.Run() // curl exits non-zero when the connection is cut
	if code := strings.TrimSpace(out.String()); code != "403" && code != "000" {
		t.Errorf("uid %d got HTTP %s (%s); want 403 or a closed connection", nobody, code, errOut.String())
	}
	if n := len(e.up.requests()); n != 0 {
		t.Fatalf("uid %d's request reached upstream: %+v", nobody, e.up.requests())
	}
	if evs := e.auditEvents(); len(evs) != 0 {
		t.Errorf("the refused connection was audited on its own: %+v", evs)
	}
	if s := e.summary(); s.Connections != 1 || s.Requests != 0 || !strings.Contains(s.LastReason, "uid 65534") {
		t.Errorf("summary = %+v; want one connection from uid 65534 counted", s)
	}

	// The owner's request, same lease, goes through.
	if res, _ := e.do("GET", path, lease, nil); res.StatusCode != http.StatusOK {
		t.Fatalf("the owner's request: status %d, want 200", res.StatusCode)
	}
	if !e.up.reached("GET", path) {
		t.Errorf("the owner's request did not reach upstream")
	}
}
