//go:build unix

package front

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hfbroker/hfbroker/internal/testutil"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

var fieldNumbers = testutil.FieldNumbers

func marshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Issue 16: the front end encodes its messages by hand (wire.go), linking no
// protobuf at all. The bytes must be proto's, and a field added to one of
// these messages fails this test until wire.go knows it (LeaseRequest's pid
// and label the front never sends; every response field it decodes).
func TestFrontMessagesMatchProto(t *testing.T) {
	for _, tc := range []struct {
		m    proto.Message
		want []protoreflect.FieldNumber
	}{
		{&pb.LeaseRequest{}, []protoreflect.FieldNumber{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{&pb.Repo{}, []protoreflect.FieldNumber{1, 2}},
		{&pb.RepoGrant{}, []protoreflect.FieldNumber{1, 2}},
		{&durationpb.Duration{}, []protoreflect.FieldNumber{1, 2}},
		{&pb.LeaseResponse{}, []protoreflect.FieldNumber{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{&timestamppb.Timestamp{}, []protoreflect.FieldNumber{1, 2}},
		{&pb.ReportGitCredentialRequest{}, []protoreflect.FieldNumber{1, 2, 3, 4, 5}},
		{&pb.ReportGitCredentialResponse{}, []protoreflect.FieldNumber{1, 2}},
		{&pb.LaneCall{}, []protoreflect.FieldNumber{1, 2, 3}},
		{&pb.LaneReply{}, []protoreflect.FieldNumber{1, 2, 3, 4, 5}},
	} {
		if got := fieldNumbers(tc.m); !slices.Equal(got, tc.want) {
			t.Errorf("%s has fields %v; the front's wire.go knows %v: teach it the new ones", tc.m.ProtoReflect().Descriptor().FullName(), got, tc.want)
		}
	}
	if pb.Purpose_PURPOSE_EXEC != purposeExec || pb.Purpose_PURPOSE_GIT != purposeGit || pb.Purpose_PURPOSE_TOKEN != purposeToken || pb.Purpose_PURPOSE_PROXY != purposeProxy ||
		pb.Access_ACCESS_READ != accessRead || pb.Access_ACCESS_WRITE != accessWrite ||
		pb.RepoType_REPO_TYPE_MODEL != repoTypeModel || pb.RepoType_REPO_TYPE_DATASET != repoTypeDataset || pb.RepoType_REPO_TYPE_SPACE != repoTypeSpace ||
		pb.GitOperation_GIT_OPERATION_STORE != gitOperationStore || pb.GitOperation_GIT_OPERATION_ERASE != gitOperationErase {
		t.Error("an enum value differs from broker.proto's")
	}

	for _, tc := range []struct {
		front *leaseRequest
		proto *pb.LeaseRequest
	}{
		{&leaseRequest{}, &pb.LeaseRequest{}},
		{&leaseRequest{purpose: purposeToken, access: accessRead, endpoint: "https://huggingface.co"},
			&pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_TOKEN, Access: pb.Access_ACCESS_READ, Endpoint: "https://huggingface.co"}},
		{&leaseRequest{
			profile: "work", repo: &repo{typ: repoTypeDataset, id: "acme/data"}, access: accessWrite, purpose: purposeProxy,
			ttl: 90*time.Minute + 5, endpoint: "http://127.0.0.1:9", untilExit: true, noPublic: true,
			repos: []repoGrant{{repo{repoTypeModel, "acme/*"}, accessRead}, {repo{repoTypeDataset, "acme/data"}, accessWrite}},
		}, &pb.LeaseRequest{
			Profile: "work", Repo: &pb.Repo{Type: pb.RepoType_REPO_TYPE_DATASET, Id: "acme/data"},
			Access: pb.Access_ACCESS_WRITE, Purpose: pb.Purpose_PURPOSE_PROXY, Ttl: durationpb.New(90*time.Minute + 5),
			Endpoint: "http://127.0.0.1:9", UntilExit: true, NoPublic: true,
			Repos: []*pb.RepoGrant{
				{Repo: &pb.Repo{Type: pb.RepoType_REPO_TYPE_MODEL, Id: "acme/*"}, Access: pb.Access_ACCESS_READ},
				{Repo: &pb.Repo{Type: pb.RepoType_REPO_TYPE_DATASET, Id: "acme/data"}, Access: pb.Access_ACCESS_WRITE},
			},
		}},
	} {
		if got, want := tc.front.append(nil), marshal(t, tc.proto); !bytes.Equal(got, want) {
			t.Errorf("LeaseRequest %v:\nfront %x\nproto %x", tc.proto, got, want)
		}
	}

	// The password (field 5) is what the front sends since it links no
	// crypto/sha256; a long one needs a two-byte length.
	longPassword := "hf_" + strings.Repeat("p", 200)
	for _, tc := range []struct {
		front *reportGitCredentialRequest
		proto *pb.ReportGitCredentialRequest
	}{
		{&reportGitCredentialRequest{}, &pb.ReportGitCredentialRequest{}},
		{&reportGitCredentialRequest{operation: gitOperationErase, fingerprint: "abcd1234", repo: &repo{repoTypeSpace, "acme/demo"}, host: "huggingface.co"},
			&pb.ReportGitCredentialRequest{Operation: pb.GitOperation_GIT_OPERATION_ERASE, Fingerprint: "abcd1234",
				Repo: &pb.Repo{Type: pb.RepoType_REPO_TYPE_SPACE, Id: "acme/demo"}, Host: "huggingface.co"}},
		{&reportGitCredentialRequest{operation: gitOperationStore, repo: &repo{repoTypeModel, "acme/llm"}, host: "huggingface.co", password: "hf_notarealtoken"},
			&pb.ReportGitCredentialRequest{Operation: pb.GitOperation_GIT_OPERATION_STORE,
				Repo: &pb.Repo{Type: pb.RepoType_REPO_TYPE_MODEL, Id: "acme/llm"}, Host: "huggingface.co", Password: "hf_notarealtoken"}},
		{&reportGitCredentialRequest{operation: gitOperationErase, fingerprint: "abcd1234", password: longPassword},
			&pb.ReportGitCredentialRequest{Operation: pb.GitOperation_GIT_OPERATION_ERASE, Fingerprint: "abcd1234", Password: longPassword}},
	} {
		if got, want := tc.front.append(nil), marshal(t, tc.proto); !bytes.Equal(got, want) {
			t.Errorf("ReportGitCredentialRequest (operation %d, password of %d bytes):\nfront %x\nproto %x", tc.proto.GetOperation(), len(tc.proto.GetPassword()), got, want)
		}
	}

	call := appendCall(nil, "Lease", []byte{1, 2, 3}, 4*time.Second+7)
	pcall := &pb.LaneCall{Method: "Lease", Request: []byte{1, 2, 3}, Timeout: durationpb.New(4*time.Second + 7)}
	if want := marshal(t, pcall); !bytes.Equal(call, want) {
		t.Errorf("LaneCall:\nfront %x\nproto %x", call, want)
	}

	resp := &pb.LeaseResponse{LeaseId: "l-0123", Profile: "work", ExpiresAt: timestamppb.New(time.Unix(1796578398, 5)),
		Token: "hf_x", User: "alice", Endpoint: "https://huggingface.co", ProxyEndpoint: "http://127.0.0.1:4",
		Follow: "process", TokenExpiresAt: timestamppb.New(time.Unix(1796578000, 0)), ShortenedToToken: true}
	got, err := decodeLeaseResponse(marshal(t, resp))
	if err != nil {
		t.Fatal(err)
	}
	if got.leaseID != "l-0123" || got.profile != "work" || got.token != "hf_x" || got.user != "alice" ||
		got.endpoint != "https://huggingface.co" || got.proxyEndpoint != "http://127.0.0.1:4" || got.follow != "process" ||
		!got.shortenedToToken || !got.expiresAt.asTime().Equal(resp.GetExpiresAt().AsTime()) ||
		!got.tokenExpiresAt.asTime().Equal(resp.GetTokenExpiresAt().AsTime()) {
		t.Errorf("decoded LeaseResponse %+v from %v", got, resp)
	}
	if empty, err := decodeLeaseResponse(nil); err != nil || empty.expiresAt != nil || empty.token != "" {
		t.Errorf("empty LeaseResponse: %+v, %v", empty, err)
	}
	rresp, err := decodeReportGitCredentialResponse(marshal(t, &pb.ReportGitCredentialResponse{Known: true, Profile: "work"}))
	if err != nil || !rresp.known || rresp.profile != "work" {
		t.Errorf("ReportGitCredentialResponse: %+v, %v", rresp, err)
	}

	// Replies: a response is OK; any code, in the summary or the status, is
	// a failure the full CLI reports.
	for _, tc := range []struct {
		reply  *pb.LaneReply
		failed bool
	}{
		{&pb.LaneReply{Response: []byte{9}}, false},
		{&pb.LaneReply{Code: 7, Message: "denied"}, true},
		{&pb.LaneReply{Status: &status.Status{Code: 7, Message: "denied"}}, true},
		{&pb.LaneReply{Response: []byte{9}, Status: &status.Status{}}, false},
	} {
		r, err := decodeLaneReply(marshal(t, tc.reply))
		if err != nil || r.failed != tc.failed {
			t.Errorf("LaneReply %v: failed %v, %v; want failed %v", tc.reply, r.failed, err, tc.failed)
		}
	}
}
