package daemon

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rpccode "google.golang.org/genproto/googleapis/rpc/code"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hfbroker/hfbroker/internal/broker"
	"github.com/hfbroker/hfbroker/internal/client"
	"github.com/hfbroker/hfbroker/internal/config"
	"github.com/hfbroker/hfbroker/internal/hub"
	"github.com/hfbroker/hfbroker/internal/lane"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// Issue 15: what a lease request through the restricted socket becomes, or
// why it is refused, for each forward's flags.
func TestForwardPolicyApply(t *testing.T) {
	ssh := broker.Forward{ID: "fwd-1-2", Host: "gpu1", PID: 1}
	repo := &pb.Repo{Type: pb.RepoType_REPO_TYPE_MODEL, Id: "acme/llm"}
	tests := []struct {
		name        string
		policy      forwardPolicy
		req         *pb.LeaseRequest
		wantPurpose pb.Purpose
		wantAccess  pb.Access
		refused     string
	}{
		{"a plain exec becomes a proxy lease without --allow-env", forwardPolicy{fwd: ssh},
			&pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_EXEC, Repo: repo, Pid: 77, Endpoint: "https://huggingface.co"},
			pb.Purpose_PURPOSE_PROXY, pb.Access_ACCESS_READ, ""},
		{"a plain exec stays an env lease with --allow-env", forwardPolicy{fwd: ssh, allowEnv: true},
			&pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_EXEC, Repo: repo},
			pb.Purpose_PURPOSE_EXEC, pb.Access_ACCESS_READ, ""},
		{"hfbroker token is refused without --allow-env", forwardPolicy{fwd: ssh},
			&pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_TOKEN, Profile: "laptop"}, 0, 0,
			"this socket is forwarded from gpu1 and allows proxy leases only, never the real token"},
		{"git gets a proxy lease without --allow-env", forwardPolicy{fwd: ssh, allowWrite: true},
			&pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_GIT, Repo: repo},
			pb.Purpose_PURPOSE_PROXY, pb.Access_ACCESS_UNSPECIFIED, ""},
		{"git's proxy lease reads without --allow-write", forwardPolicy{fwd: ssh},
			&pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_GIT, Repo: repo},
			pb.Purpose_PURPOSE_PROXY, pb.Access_ACCESS_READ, ""},
		{"git through the proxy needs the repo named", forwardPolicy{fwd: ssh},
			&pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_GIT}, 0, 0,
			"gives git leases for one repo through the proxy, and git named none"},
		{"a write lease is refused without --allow-write", forwardPolicy{fwd: ssh, allowEnv: true},
			&pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_PROXY, Repo: repo, Access: pb.Access_ACCESS_WRITE}, 0, 0,
			"this socket is forwarded from gpu1 and allows read leases only"},
		{"a write lease passes with --allow-write", forwardPolicy{fwd: ssh, allowWrite: true},
			&pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_PROXY, Repo: repo, Access: pb.Access_ACCESS_WRITE},
			pb.Purpose_PURPOSE_PROXY, pb.Access_ACCESS_WRITE, ""},
		{"git's unsaid access becomes read without --allow-write", forwardPolicy{fwd: ssh, allowEnv: true},
			&pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_GIT, Repo: repo},
			pb.Purpose_PURPOSE_GIT, pb.Access_ACCESS_READ, ""},
		{"--repo refuses another repo", forwardPolicy{fwd: ssh, repos: []string{"acme/l*"}},
			&pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_PROXY, Repo: &pb.Repo{Id: "acme/other"}}, 0, 0,
			"does not allow acme/other"},
		{"--repo refuses a lease that names no repo", forwardPolicy{fwd: ssh, repos: []string{"acme/*"}},
			&pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_PROXY}, 0, 0, "names no repo"},
		{"--repo matches the typed form of a dataset", forwardPolicy{fwd: ssh, repos: []string{"datasets/acme/*"}},
			&pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_PROXY, Repo: &pb.Repo{Type: pb.RepoType_REPO_TYPE_DATASET, Id: "acme/data"}},
			pb.Purpose_PURPOSE_PROXY, pb.Access_ACCESS_READ, ""},
		{"a model pattern does not match a dataset", forwardPolicy{fwd: ssh, repos: []string{"acme/*"}},
			&pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_PROXY, Repo: &pb.Repo{Type: pb.RepoType_REPO_TYPE_DATASET, Id: "acme/data"}}, 0, 0,
			"does not allow acme/data"},
		{"several repos keep their list through the forward", forwardPolicy{fwd: ssh, repos: []string{"acme/*"}},
			&pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_EXEC, Repos: []*pb.RepoGrant{{Repo: &pb.Repo{Id: "acme/*"}}, {Repo: &pb.Repo{Id: "acme/llm"}}}, NoPublic: true},
			pb.Purpose_PURPOSE_PROXY, pb.Access_ACCESS_READ, ""},
		{"a write repo among several is refused without --allow-write", forwardPolicy{fwd: ssh},
			&pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_EXEC, Repo: repo, Access: pb.Access_ACCESS_READ,
				Repos: []*pb.RepoGrant{{Repo: repo}, {Repo: &pb.Repo{Id: "acme/out"}, Access: pb.Access_ACCESS_WRITE}}}, 0, 0,
			"allows read leases only, and this one writes acme/out"},
		{"--repo refuses one repo of several outside it", forwardPolicy{fwd: ssh, repos: []string{"acme/l*"}},
			&pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_PROXY, Repo: repo, Repos: []*pb.RepoGrant{{Repo: repo}, {Repo: &pb.Repo{Id: "evil/x"}}}}, 0, 0,
			"does not allow evil/x"},
		{"--repo refuses a pattern wider than its own", forwardPolicy{fwd: ssh, repos: []string{"acme/l*"}},
			&pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_PROXY, Repos: []*pb.RepoGrant{{Repo: &pb.Repo{Id: "acme/*"}}}}, 0, 0,
			"does not allow acme/*"},
		{"a container (direct connection) is told to use hfbroker ssh", forwardPolicy{fwd: broker.Forward{ID: "direct-5-6", PID: 5}},
			&pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_TOKEN}, 0, 0,
			"restricted socket (a container or other direct connection) and allows proxy leases only"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.policy.apply(tc.req)
			if tc.refused != "" {
				if status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), tc.refused) {
					t.Fatalf("apply = %v, want PermissionDenied containing %q", err, tc.refused)
				}
				return
			}
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if got.GetPurpose() != tc.wantPurpose || got.GetAccess() != tc.wantAccess {
				t.Errorf("purpose, access = %v, %v; want %v, %v", got.GetPurpose(), got.GetAccess(), tc.wantPurpose, tc.wantAccess)
			}
			if len(got.GetRepos()) != len(tc.req.GetRepos()) || got.GetNoPublic() != tc.req.GetNoPublic() {
				t.Errorf("repos %v, no_public %v; want the request's %v, %v", got.GetRepos(), got.GetNoPublic(), tc.req.GetRepos(), tc.req.GetNoPublic())
			}
			if got.GetPid() != 0 || got.GetEndpoint() != "" {
				t.Errorf("pid %d, endpoint %q: a remote's pid and endpoint must not pass", got.GetPid(), got.GetEndpoint())
			}
		})
	}
}

// Issue 15: the restricted socket beside the main one answers leases and a
// peer's own lease calls, and refuses everything else with one line. A peer
// that is no registered forward (here the test itself, as a container with
// the socket mounted would be) gets read-only proxy leases.
func TestRestrictedSocketAllowsLeasesOnly(t *testing.T) {
	checkNoLeaks(t)
	d := startTestDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rs := filepath.Join(filepath.Dir(d.sock), RestrictedSocketName)
	c, err := client.Dial(ctx, client.Options{Socket: rs, Env: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	refused := map[string]func() error{
		"login or import": func() error {
			_, err := c.AddToken(ctx, &pb.AddTokenRequest{Token: d.token, NoVerify: true})
			return err
		},
		"logout": func() error { _, err := c.RemoveToken(ctx, &pb.RemoveTokenRequest{Name: "laptop"}); return err },
		"lock":   func() error { _, err := c.Lock(ctx, &pb.LockRequest{}); return err },
		"migrate": func() error {
			_, err := c.Migrate(ctx, &pb.MigrateRequest{To: "file"})
			return err
		},
		"switch": func() error { _, err := c.SetDefault(ctx, &pb.SetDefaultRequest{Name: "laptop"}); return err },
		"whoami": func() error { _, err := c.Whoami(ctx, &pb.WhoamiRequest{}); return err },
		"real token": func() error {
			_, err := c.Lease(ctx, &pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_TOKEN})
			return err
		},
	}
	for what, call := range refused {
		err := call()
		le, ok := errors.AsType[*lane.Error](err)
		if !ok || le.Code != rpccode.Code_PERMISSION_DENIED || !strings.Contains(le.Message, "restricted socket") {
			t.Errorf("%s through the restricted socket: %v, want PermissionDenied saying why", what, err)
		}
		if err != nil && strings.Contains(err.Error(), d.token) {
			t.Fatal("a refusal holds the token")
		}
	}
	if st, err := c.Status(ctx, &pb.StatusRequest{}); err != nil || st.GetForward() == nil || st.GetProfileCount() != 0 || st.GetBackend() != "" {
		t.Fatalf("status through the restricted socket = %v, %v; want the forward and nothing of the store", st, err)
	}

	lease, err := c.Lease(ctx, &pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_EXEC})
	if err != nil {
		t.Fatalf("Lease: %v", err)
	}
	if lease.GetToken() == d.token || lease.GetProxyEndpoint() == "" {
		t.Fatalf("a plain exec lease through the restricted socket: real token %v, proxy %q; want a proxy lease",
			lease.GetToken() == d.token, lease.GetProxyEndpoint())
	}
	// The main socket sees the lease marked with its forward.
	mc, err := client.Dial(ctx, client.Options{Socket: d.sock, NoAutostart: true, Env: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	ls, err := mc.ListLeases(ctx, &pb.ListLeasesRequest{})
	if err != nil || len(ls.GetLeases()) != 1 || !strings.HasPrefix(ls.GetLeases()[0].GetForward().GetId(), "direct-") ||
		ls.GetLeases()[0].GetPurpose() != pb.Purpose_PURPOSE_PROXY || ls.GetLeases()[0].GetAccess() != pb.Access_ACCESS_READ {
		t.Fatalf("leases = %v, %v; want one read proxy lease marked direct-…", ls, err)
	}
	// git asks once per operation: its proxy lease lives as long as a git
	// lease, not an hour like a job's (they piled up, one per fetch).
	git, err := c.Lease(ctx, &pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_GIT, Repo: &pb.Repo{Id: "alice/llm"}})
	if err != nil {
		t.Fatalf("git's Lease: %v", err)
	}
	if left := time.Until(git.GetExpiresAt().AsTime()); git.GetProxyEndpoint() == "" || left > config.DefaultGitTTL || left < config.DefaultGitTTL-time.Minute {
		t.Errorf("git's lease through the restricted socket: proxy %q, %s left; want a proxy lease of lease.git_ttl (%s)",
			git.GetProxyEndpoint(), left.Round(time.Second), config.DefaultGitTTL)
	}
	c.Close()
	mc.Close()
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(rs); !os.IsNotExist(err) {
		t.Fatalf("restricted socket left behind: %v", err)
	}
}

// Issue 15: a forward's leases end when its ssh process exits, within a
// second (the daemon watches it with a pidfd), and the audit log says so.
func TestForwardLeasesEndWithTheSSHProcess(t *testing.T) {
	checkNoLeaks(t)
	var fw *forwards
	closed := make(chan string, 1)
	d := startTestDaemonWith(t, func(o *Options) {
		o.onForwards = func(f *forwards) {
			fw = f
			f.onClosed = func(id string) { closed <- id }
		}
	})
	defer d.stop()
	ssh := exec.Command("sleep", "60") // stands in for ssh
	if err := ssh.Start(); err != nil {
		t.Fatal(err)
	}
	defer ssh.Process.Kill()
	p, _, err := fw.register(broker.Caller{UID: os.Getuid(), PID: ssh.Process.Pid}, &pb.RegisterForwardRequest{Host: "gpu1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var ids []string
	for _, purpose := range []broker.Purpose{broker.PurposeProxy, broker.PurposeGit} {
		g, err := fw.b.Lease(ctx, broker.LeaseRequest{Purpose: purpose, Forward: p.fwd, Caller: broker.Caller{UID: os.Getuid()}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, g.Lease.ID)
	}
	ssh.Process.Kill()
	ssh.Wait()
	select {
	case id := <-closed:
		if id != p.fwd.ID {
			t.Fatalf("closed forward %s, want %s", id, p.fwd.ID)
		}
	case <-time.After(time.Second):
		t.Fatal("the forward was not closed within 1 s of its ssh process's exit")
	}
	for _, id := range ids {
		if cause, ok := fw.b.EndedCause(id); !ok || cause != broker.CauseForwardClosed {
			t.Errorf("lease %s: ended %v, cause %q; want %s", id, ok, cause, broker.CauseForwardClosed)
		}
	}
}

// Issue 15: a remote's refused write (a git push through the forwarded
// proxy, most often) names the flag that allows it, hfbroker ssh's
// --allow-write, not hfbroker exec's --write-repo there.
func TestAForwardsProxyLeaseNamesHfbrokerSshInItsWriteRefusal(t *testing.T) {
	llm := hub.RepoRef{Type: hub.RepoModel, Namespace: "acme", Name: "llm"}
	remote := proxyLease(broker.Lease{ID: "l-1", Repo: &llm, Access: broker.AccessRead,
		Forward: broker.Forward{ID: "fwd-1-2", Host: "gpu1", PID: 1}}, "")
	if want := "reconnect with 'hfbroker ssh --allow-write gpu1'"; !strings.HasPrefix(remote.WriteHint, want) {
		t.Errorf("a forward's lease: write hint %q, want it to start with %q", remote.WriteHint, want)
	}
	if local := proxyLease(broker.Lease{ID: "l-2", Repo: &llm, Access: broker.AccessRead}, ""); local.WriteHint != "" {
		t.Errorf("a local lease: write hint %q, want none (the proxy's --write-repo)", local.WriteHint)
	}
}
