package daemon

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hfbroker/hfbroker/internal/broker"
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
		{"git is refused without --allow-env", forwardPolicy{fwd: ssh, allowWrite: true},
			&pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_GIT, Repo: repo}, 0, 0,
			"this socket is forwarded from gpu1 and gives git no real token"},
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
			if got.GetPid() != 0 || got.GetEndpoint() != "" {
				t.Errorf("pid %d, endpoint %q: a remote's pid and endpoint must not pass", got.GetPid(), got.GetEndpoint())
			}
		})
	}
}
