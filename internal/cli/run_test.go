package cli

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	rpccode "google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hfbroker/hfbroker/internal/client"
	"github.com/hfbroker/hfbroker/internal/lane"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// The run functions' tests: each drives a command's xRun with a fake
// daemon, as gh's tests do, and checks what it asked and what it printed.

const runTestToken = "hf_TheRunTestsTokenAbCdEfGhIjKlMnOpQr"

func hubEndpoint() (string, error) { return "https://huggingface.co", nil }

func TestTokenRunPrintsTheLeasedTokenAndNothingElse(t *testing.T) {
	io, out, errOut := testIO()
	var asked *pb.LeaseRequest
	d := &fakeDaemon{lease: func(r *pb.LeaseRequest) (*pb.LeaseResponse, error) {
		asked = r
		return &pb.LeaseResponse{Token: runTestToken, Profile: "acme-ci", LeaseId: "l-1"}, nil
	}}
	opts := &TokenOptions{IO: io, Daemon: connectTo(d), Endpoint: hubEndpoint, Choice: choiceFlags{Repos: []string{"datasets/acme/corpus"}}}
	if err := tokenRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if out.String() != runTestToken+"\n" {
		t.Errorf("stdout = %q, want the token and a newline", out)
	}
	if errOut.Len() != 0 {
		t.Errorf("stderr = %q, want nothing", errOut)
	}
	if asked.GetPurpose() != pb.Purpose_PURPOSE_TOKEN || asked.GetRepo().GetId() != "acme/corpus" ||
		asked.GetRepo().GetType() != pb.RepoType_REPO_TYPE_DATASET || asked.GetEndpoint() != "https://huggingface.co" {
		t.Errorf("asked %v", asked)
	}
	if d.closed != 1 {
		t.Errorf("closed the connection %d times, want once", d.closed)
	}
}

func TestTokenRunOnADenialPrintsNoTokenAndExits4(t *testing.T) {
	io, out, errOut := testIO()
	d := &fakeDaemon{lease: func(*pb.LeaseRequest) (*pb.LeaseResponse, error) {
		return nil, &lane.Error{Code: rpccode.Code_PERMISSION_DENIED, Message: "no stored token can write acme/llm",
			Detail: &pb.ErrorDetail{Hint: "run 'hfbroker doctor acme/llm --write'"}}
	}}
	opts := &TokenOptions{IO: io, Daemon: connectTo(d), Endpoint: hubEndpoint, Choice: choiceFlags{Repos: []string{"acme/llm"}, Write: true}}
	err := tokenRun(context.Background(), opts)
	if err == nil {
		t.Fatal("no error")
	}
	if out.Len() != 0 {
		t.Errorf("stdout = %q, want nothing", out)
	}
	if code := reportError(errOut, newCmdToken(&Factory{IO: io}, nil), err); code != ExitDenied {
		t.Errorf("exit %d, want %d", code, ExitDenied)
	}
	if !strings.Contains(errOut.String(), "hfbroker doctor acme/llm --write") {
		t.Errorf("stderr %q names no fix", errOut)
	}
	assertNoToken(t, runTestToken, err.Error(), errOut.String())
}

func TestTokenRunSaysWhenTheLeaseIsShortenedOnStderrOnly(t *testing.T) {
	io, out, errOut := testIO()
	d := &fakeDaemon{lease: func(*pb.LeaseRequest) (*pb.LeaseResponse, error) {
		return &pb.LeaseResponse{Token: runTestToken, Profile: "oauth-alice", ShortenedToToken: true,
			ExpiresAt: timestamppb.New(time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC))}, nil
	}}
	if err := tokenRun(context.Background(), &TokenOptions{IO: io, Daemon: connectTo(d), Endpoint: hubEndpoint}); err != nil {
		t.Fatal(err)
	}
	if out.String() != runTestToken+"\n" || !strings.Contains(errOut.String(), "2026-09-01 12:00:00 UTC") {
		t.Errorf("stdout %q stderr %q", out, errOut)
	}
	assertNoToken(t, runTestToken, errOut.String())
}

func TestTokenRunRefusesAMalformedRepoBeforeAskingTheDaemon(t *testing.T) {
	io, out, _ := testIO()
	d := &fakeDaemon{}
	err := tokenRun(context.Background(), &TokenOptions{IO: io, Daemon: connectTo(d), Endpoint: hubEndpoint, Choice: choiceFlags{Repos: []string{"bad"}}})
	if ue, ok := errors.AsType[*userError](err); !ok || ue.code != ExitUsage {
		t.Fatalf("error %v, want a usage error", err)
	}
	if len(d.calls) != 0 || out.Len() != 0 {
		t.Errorf("calls %q, stdout %q", d.calls, out)
	}
}

func TestDaemonUnreachableIsPassedOnAsIs(t *testing.T) {
	io, _, _ := testIO()
	unreachable := func(context.Context) (Daemon, error) { return nil, &client.UnreachableError{} }
	for name, run := range map[string]func() error{
		"token": func() error {
			return tokenRun(context.Background(), &TokenOptions{IO: io, Daemon: unreachable, Endpoint: hubEndpoint})
		},
		"status": func() error { return statusRun(context.Background(), &StatusOptions{IO: io, Daemon: unreachable}) },
		"leases": func() error { return leasesRun(context.Background(), &LeasesOptions{IO: io, Daemon: unreachable}) },
		"list":   func() error { return listRun(context.Background(), &ListOptions{IO: io, Daemon: unreachable}) },
	} {
		if _, ok := errors.AsType[*client.UnreachableError](run()); !ok {
			t.Errorf("%s: the unreachable daemon's error was lost", name)
		}
	}
}

func statusResponse() *pb.StatusResponse {
	return &pb.StatusResponse{Pid: 42, Socket: "/run/user/1000/hfbroker/hfbroker.sock", Backend: "keychain",
		BackendReason: "auto: Secret Service answered", ProfileCount: 2, DefaultProfile: "laptop", LeaseCount: 3,
		Version: "v1.2.3", StartedAt: timestamppb.New(time.Now().Add(-time.Hour))}
}

func TestStatusRunDescribesTheDaemon(t *testing.T) {
	io, out, _ := testIO()
	d := &fakeDaemon{status: func(*pb.StatusRequest) (*pb.StatusResponse, error) { return statusResponse(), nil }}
	if err := statusRun(context.Background(), &StatusOptions{IO: io, Daemon: connectTo(d)}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"hfbrokerd v1.2.3, pid 42, up 1h0m0s", "socket:   /run/user/1000/hfbroker/hfbroker.sock",
		"backend:  keychain — auto: Secret Service answered", "profiles: 2 (default: laptop)", "leases:   3 live"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status does not say %q:\n%s", want, out)
		}
	}
}

func TestStatusRunJSONShape(t *testing.T) {
	io, out, _ := testIO()
	d := &fakeDaemon{status: func(*pb.StatusRequest) (*pb.StatusResponse, error) { return statusResponse(), nil }}
	if err := statusRun(context.Background(), &StatusOptions{IO: io, Daemon: connectTo(d), JSON: true}); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	for _, k := range []string{"pid", "socket", "backend", "backend_reason", "profiles", "default_profile", "leases", "locked",
		"vault_exists", "vault_path", "version", "started_at", "uptime_seconds", "config", "daemon_build", "cli_build", "version_skew"} {
		if _, ok := got[k]; !ok {
			t.Errorf("status --json has no %q", k)
		}
	}
	if got["pid"] != float64(42) || got["default_profile"] != "laptop" || got["leases"] != float64(3) {
		t.Errorf("status --json = %v", got)
	}
}

func TestStatusRunThroughAForwardSaysWhatItAllows(t *testing.T) {
	io, out, _ := testIO()
	st := statusResponse()
	st.Forward = &pb.Forward{Id: "f-1", Host: "gpu-box", SshPid: 77, Repos: []string{"acme/*"}}
	d := &fakeDaemon{status: func(*pb.StatusRequest) (*pb.StatusResponse, error) { return st, nil }}
	if err := statusRun(context.Background(), &StatusOptions{IO: io, Daemon: connectTo(d)}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "forwarded from gpu-box (ssh pid 77)") || !strings.Contains(out.String(), "read leases, through the proxy only; repos: acme/*") {
		t.Errorf("status through a forward:\n%s", out)
	}
}

func testLeases() *pb.ListLeasesResponse {
	granted := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	return &pb.ListLeasesResponse{Leases: []*pb.Lease{
		{Id: "l-1", Profile: "acme-ci", Fingerprint: "hf_…abcd", Pid: 1234, Executable: "/usr/bin/python3",
			Repo: &pb.Repo{Id: "acme/llm"}, Access: pb.Access_ACCESS_WRITE, Purpose: pb.Purpose_PURPOSE_EXEC,
			Follow: "tree", TreeSize: 3, GrantedAt: timestamppb.New(granted), ExpiresAt: timestamppb.New(granted.Add(time.Hour))},
		{Id: "l-2", Profile: "laptop", Fingerprint: "hf_…wxyz", Purpose: pb.Purpose_PURPOSE_TOKEN, Follow: "ttl",
			GrantedAt: timestamppb.New(granted), ExpiresAt: timestamppb.New(granted.Add(30 * time.Minute)),
			Repos: []*pb.RepoGrant{{Repo: &pb.Repo{Type: pb.RepoType_REPO_TYPE_DATASET, Id: "acme/corpus"}, Access: pb.Access_ACCESS_READ}}},
	}}
}

func TestLeasesRunPrintsATable(t *testing.T) {
	io, out, _ := testIO()
	d := &fakeDaemon{listLeases: func(*pb.ListLeasesRequest) (*pb.ListLeasesResponse, error) { return testLeases(), nil }}
	now := func() time.Time { return time.Date(2026, 12, 6, 10, 10, 0, 0, time.UTC) }
	if err := leasesRun(context.Background(), &LeasesOptions{IO: io, Daemon: connectTo(d), Now: now}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") {
		t.Fatalf("table:\n%s", out)
	}
	for i, want := range [][]string{
		{"l-1", "acme-ci", "1234", "/usr/bin/python3", "acme/llm(w)", "exec", "3", "tree", "10m0s", "50m0s"},
		{"l-2", "laptop", "datasets/acme/corpus(r)", "token", "ttl", "20m0s"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i+1], w) {
				t.Errorf("row %d %q has no %q", i+1, lines[i+1], w)
			}
		}
	}
}

func TestLeasesRunWithNoLeasesSaysSoOnStderr(t *testing.T) {
	io, out, errOut := testIO()
	d := &fakeDaemon{listLeases: func(*pb.ListLeasesRequest) (*pb.ListLeasesResponse, error) { return &pb.ListLeasesResponse{}, nil }}
	if err := leasesRun(context.Background(), &LeasesOptions{IO: io, Daemon: connectTo(d)}); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 || errOut.String() != "No live leases.\n" {
		t.Errorf("stdout %q stderr %q", out, errOut)
	}
}

func TestLeasesRunJSONShape(t *testing.T) {
	io, out, _ := testIO()
	d := &fakeDaemon{listLeases: func(*pb.ListLeasesRequest) (*pb.ListLeasesResponse, error) { return testLeases(), nil }}
	if err := leasesRun(context.Background(), &LeasesOptions{IO: io, Daemon: connectTo(d), JSON: true}); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || len(got) != 2 {
		t.Fatalf("not a JSON list of two: %v\n%s", err, out)
	}
	for _, k := range []string{"id", "profile", "fingerprint", "pid", "executable", "repo", "access", "purpose", "follow", "processes", "granted_at", "expires_at"} {
		if _, ok := got[0][k]; !ok {
			t.Errorf("leases --json has no %q", k)
		}
	}
	if repos := got[1]["repos"].([]any); len(repos) != 1 || repos[0].(map[string]any)["repo"] != "datasets/acme/corpus" {
		t.Errorf("repos = %v", got[1]["repos"])
	}
	// An empty list is [], not null: scripts iterate it.
	io, out, _ = testIO()
	d.listLeases = func(*pb.ListLeasesRequest) (*pb.ListLeasesResponse, error) { return &pb.ListLeasesResponse{}, nil }
	if err := leasesRun(context.Background(), &LeasesOptions{IO: io, Daemon: connectTo(d), JSON: true}); err != nil || out.String() != "[]\n" {
		t.Errorf("no leases: %q, %v", out, err)
	}
}

func TestLeasesRevokeAndRenewRun(t *testing.T) {
	io, out, _ := testIO()
	var renewed *pb.RenewLeaseRequest
	d := &fakeDaemon{
		revokeLease: func(r *pb.RevokeLeaseRequest) (*pb.RevokeLeaseResponse, error) {
			if r.GetId() != "l-1" {
				return nil, &lane.Error{Code: rpccode.Code_NOT_FOUND, Message: "no lease " + r.GetId()}
			}
			return &pb.RevokeLeaseResponse{}, nil
		},
		renewLease: func(r *pb.RenewLeaseRequest) (*pb.RenewLeaseResponse, error) {
			renewed = r
			return &pb.RenewLeaseResponse{Lease: &pb.Lease{Id: r.GetId(), ExpiresAt: timestamppb.New(time.Now().Add(24 * time.Hour))}}, nil
		},
	}
	if err := leasesRevokeRun(context.Background(), &LeasesRevokeOptions{IO: io, Daemon: connectTo(d), ID: "l-1"}); err != nil {
		t.Fatal(err)
	}
	if err := leasesRevokeRun(context.Background(), &LeasesRevokeOptions{IO: io, Daemon: connectTo(d), ID: "l-9"}); err == nil || !strings.Contains(err.Error(), "no lease l-9") {
		t.Errorf("revoking an unknown lease: %v", err)
	}
	if err := leasesRenewRun(context.Background(), &LeasesRenewOptions{IO: io, Daemon: connectTo(d), ID: "l-1", TTL: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if renewed.GetTtl().AsDuration() != 24*time.Hour {
		t.Errorf("renew asked for %v", renewed.GetTtl())
	}
	if !strings.Contains(out.String(), "Revoked lease l-1\n") || !strings.Contains(out.String(), "Renewed lease l-1: ends in 2") {
		t.Errorf("stdout:\n%s", out)
	}
}

func testProfiles() *pb.ListProfilesResponse {
	added := timestamppb.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	return &pb.ListProfilesResponse{Profiles: []*pb.Profile{
		{Name: "laptop", Default: true, User: "alice", TokenRole: "fineGrained", Fingerprint: "hf_…abcd", Endpoint: "https://huggingface.co", AddedAt: added},
		{Name: "acme-ci", User: "acme-bot", TokenRole: "read", Fingerprint: "hf_…wxyz", Endpoint: "https://huggingface.co", AddedAt: added},
	}}
}

func TestListRunPrintsProfilesWithTheDefaultMarked(t *testing.T) {
	io, out, _ := testIO()
	d := &fakeDaemon{listProfiles: func(*pb.ListProfilesRequest) (*pb.ListProfilesResponse, error) { return testProfiles(), nil }}
	if err := listRun(context.Background(), &ListOptions{IO: io, Daemon: connectTo(d)}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "*") || !strings.Contains(lines[1], "fine-grained") ||
		strings.HasPrefix(lines[2], "*") || !strings.Contains(lines[2], "acme-ci") || strings.Contains(out.String(), "EXPIRES") {
		t.Errorf("list:\n%s", out)
	}
}

func TestListRunJSONShape(t *testing.T) {
	io, out, _ := testIO()
	d := &fakeDaemon{listProfiles: func(*pb.ListProfilesRequest) (*pb.ListProfilesResponse, error) { return testProfiles(), nil }}
	if err := listRun(context.Background(), &ListOptions{IO: io, Daemon: connectTo(d), JSON: true}); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || len(got) != 2 {
		t.Fatalf("not a JSON list of two: %v\n%s", err, out)
	}
	var keys []string
	for k := range got[0] {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"added_at", "default", "endpoint", "fingerprint", "name", "token_role", "user"}; !slices.Equal(keys, want) {
		t.Errorf("list --json keys %q, want %q", keys, want)
	}
	if got[0]["token_role"] != "fineGrained" || got[0]["default"] != true {
		t.Errorf("list --json = %v", got[0])
	}
}

func TestListRunWithNoProfilesSaysHowToAddOne(t *testing.T) {
	io, out, errOut := testIO()
	d := &fakeDaemon{listProfiles: func(*pb.ListProfilesRequest) (*pb.ListProfilesResponse, error) {
		return &pb.ListProfilesResponse{}, nil
	}}
	if err := listRun(context.Background(), &ListOptions{IO: io, Daemon: connectTo(d)}); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 || !strings.Contains(errOut.String(), "hfbroker login") {
		t.Errorf("stdout %q stderr %q", out, errOut)
	}
}

func TestSwitchAndLogoutRun(t *testing.T) {
	io, out, _ := testIO()
	d := &fakeDaemon{
		setDefault: func(r *pb.SetDefaultRequest) (*pb.SetDefaultResponse, error) {
			return &pb.SetDefaultResponse{Profile: &pb.Profile{Name: r.GetName()}}, nil
		},
		removeToken: func(r *pb.RemoveTokenRequest) (*pb.RemoveTokenResponse, error) {
			if r.GetName() == "ghost" {
				return nil, &lane.Error{Code: rpccode.Code_NOT_FOUND, Message: `no profile "ghost"`,
					Detail: &pb.ErrorDetail{Hint: "run 'hfbroker list'"}}
			}
			return &pb.RemoveTokenResponse{EndedLeases: 2}, nil
		},
	}
	if err := switchRun(context.Background(), &SwitchOptions{IO: io, Daemon: connectTo(d), Name: "acme-ci"}); err != nil {
		t.Fatal(err)
	}
	if err := logoutRun(context.Background(), &LogoutOptions{IO: io, Daemon: connectTo(d), Name: "laptop"}); err != nil {
		t.Fatal(err)
	}
	if want := "Default profile is now \"acme-ci\"\nRemoved profile \"laptop\" and ended 2 lease(s)\n"; out.String() != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	err := logoutRun(context.Background(), &LogoutOptions{IO: io, Daemon: connectTo(d), Name: "ghost"})
	if st, ok := statusOf(err); !ok || st.Code != rpccode.Code_NOT_FOUND {
		t.Errorf("logout of an unknown profile: %v", err)
	}
	if d.closed != 3 {
		t.Errorf("closed %d connections, want 3", d.closed)
	}
}

func TestLockRun(t *testing.T) {
	io, out, _ := testIO()
	d := &fakeDaemon{lock: func(*pb.LockRequest) (*pb.LockResponse, error) { return &pb.LockResponse{EndedLeases: 4}, nil }}
	if err := lockRun(context.Background(), &LockOptions{IO: io, Daemon: connectTo(d)}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "Locked; ended 4 lease(s)\n" {
		t.Errorf("stdout %q", out)
	}
}

// The commands' flags reach their options: the runF seam gh's tests use.
func TestFlagsReachTheOptions(t *testing.T) {
	f, _, _ := usageFactory(t)
	var tok *TokenOptions
	cmd := newCmdToken(f, func(o *TokenOptions) error { tok = o; return nil })
	cmd.SetArgs([]string{"--repo", "acme/llm", "--write"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tok.Choice.Repos, []string{"acme/llm"}) || !tok.Choice.Write {
		t.Errorf("token options %+v", tok.Choice)
	}
	var ls *LeasesOptions
	cmd = newCmdLeases(f, func(o *LeasesOptions) error { ls = o; return nil })
	cmd.SetArgs([]string{"--watch", "--interval", "5s"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !ls.Watch || ls.Interval != 5*time.Second {
		t.Errorf("leases options %+v", ls)
	}
	var rn *LeasesRenewOptions
	cmd = newCmdLeasesRenew(f, func(o *LeasesRenewOptions) error { rn = o; return nil })
	cmd.SetArgs([]string{"l-1", "--ttl", "24h"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if rn.ID != "l-1" || rn.TTL != 24*time.Hour {
		t.Errorf("renew options %+v", rn)
	}
}
