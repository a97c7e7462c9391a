package client

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hfbroker/hfbroker/internal/testutil"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

var fieldNumbers = testutil.FieldNumbers

// Issue 16: Lease's and ReportGitCredential's messages are encoded by hand (wire.go) so that
// `hfbroker token` does not pay for proto's reflection. The encoding must
// stay proto's, and a field added to these messages fails this test until
// wire.go knows it (the hand codec would silently drop it).
func TestLeaseMessagesMatchProto(t *testing.T) {
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
	} {
		if got := fieldNumbers(tc.m); !slices.Equal(got, tc.want) {
			t.Errorf("%s has fields %v; wire.go knows %v: teach it the new ones", tc.m.ProtoReflect().Descriptor().FullName(), got, tc.want)
		}
	}

	for _, req := range []*pb.LeaseRequest{
		{},
		{Purpose: pb.Purpose_PURPOSE_TOKEN, Access: pb.Access_ACCESS_READ, Endpoint: "https://huggingface.co"},
		{
			Profile: "work", Repo: &pb.Repo{Type: pb.RepoType_REPO_TYPE_DATASET, Id: "acme/data"},
			Access: pb.Access_ACCESS_WRITE, Purpose: pb.Purpose_PURPOSE_EXEC, Ttl: durationpb.New(90*time.Minute + 5),
			Endpoint: "http://127.0.0.1:9", Pid: 4242, UntilExit: true,
			Label: "kernel k1", NoPublic: true,
			Repos: []*pb.RepoGrant{
				{Repo: &pb.Repo{Id: "acme/*"}, Access: pb.Access_ACCESS_READ},
				{Repo: &pb.Repo{Type: pb.RepoType_REPO_TYPE_MODEL, Id: "acme/llm"}, Access: pb.Access_ACCESS_WRITE},
				{},
			},
		},
		{Repo: &pb.Repo{}, Ttl: &durationpb.Duration{}, Pid: -1},
		{Ttl: durationpb.New(-1500 * time.Millisecond)},
	} {
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendLeaseRequest(nil, req); !bytes.Equal(got, want) {
			t.Errorf("appendLeaseRequest(%v) = %x, proto encodes %x", req, got, want)
		}
	}

	for _, want := range []*pb.LeaseResponse{
		{},
		{
			LeaseId: "l-1", Profile: "work", ExpiresAt: timestamppb.New(time.Unix(1_800_000_000, 123)),
			Token: "hf_" + "x", User: "alice", Endpoint: "https://huggingface.co",
			ProxyEndpoint: "http://127.0.0.1:4242", Follow: "process",
			TokenExpiresAt: timestamppb.New(time.Unix(1_800_000_600, 9)), ShortenedToToken: true,
		},
		{ExpiresAt: &timestamppb.Timestamp{}},
		{ExpiresAt: &timestamppb.Timestamp{Seconds: -5, Nanos: 7}},
	} {
		b, err := proto.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		// A newer daemon's fields, which the client skips.
		b = protowire.AppendTag(b, 99, protowire.BytesType)
		b = protowire.AppendString(b, "future")
		b = protowire.AppendTag(b, 100, protowire.VarintType)
		b = protowire.AppendVarint(b, 3)
		b = protowire.AppendTag(b, 101, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, 3)
		got, err := decodeLeaseResponse(b)
		if err != nil {
			t.Fatalf("decodeLeaseResponse(%v): %v", want, err)
		}
		if !proto.Equal(got, want) {
			t.Errorf("decodeLeaseResponse = %v, want %v", got, want)
		}
	}
	for _, bad := range [][]byte{{0x0a, 0x05, 'x'}, {0x1a, 0x02, 0x08}, {0x1a, 0x01, 0x08}, {0x80}} {
		if _, err := decodeLeaseResponse(bad); err == nil {
			t.Errorf("decodeLeaseResponse(%x) accepted a malformed message", bad)
		}
	}
}

func TestReportGitCredentialMessagesMatchProto(t *testing.T) {
	for _, req := range []*pb.ReportGitCredentialRequest{
		{},
		{Operation: pb.GitOperation_GIT_OPERATION_ERASE, Fingerprint: "sha256:abcd", Repo: &pb.Repo{Type: pb.RepoType_REPO_TYPE_SPACE, Id: "acme/demo"}, Host: "huggingface.co"},
		{Operation: pb.GitOperation_GIT_OPERATION_STORE, Repo: &pb.Repo{}},
		{Operation: pb.GitOperation_GIT_OPERATION_STORE, Password: "not-a-real-password", Host: "huggingface.co"},
		{Operation: pb.GitOperation_GIT_OPERATION_ERASE, Fingerprint: "abcd1234", Repo: &pb.Repo{Id: "acme/llm"}, Host: "h", Password: "pw"},
	} {
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendReportGitCredentialRequest(nil, req); !bytes.Equal(got, want) {
			t.Errorf("appendReportGitCredentialRequest(%v) = %x, proto encodes %x", req, got, want)
		}
	}
	for _, want := range []*pb.ReportGitCredentialResponse{{}, {Known: true, Profile: "work"}} {
		b, err := proto.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		b = protowire.AppendTag(b, 99, protowire.BytesType)
		b = protowire.AppendString(b, "future")
		got, err := decodeReportGitCredentialResponse(b)
		if err != nil || !proto.Equal(got, want) {
			t.Errorf("decodeReportGitCredentialResponse = %v, %v; want %v", got, err, want)
		}
	}
	if _, err := decodeReportGitCredentialResponse([]byte{0x12, 0x05}); err == nil {
		t.Error("decodeReportGitCredentialResponse accepted a truncated field")
	}
}
