package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hfbroker/hfbroker/internal/audit"
	"github.com/hfbroker/hfbroker/internal/broker"
	"github.com/hfbroker/hfbroker/internal/keystore"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

const testToken = "hf_AbCdEfGhIjKlMnOpQrStUvWxYzAbCdWXYZ"

// newServer is a Server over a real broker with a memory store, no Hub and
// no proxy, holding one unverified profile "laptop".
func newServer(t *testing.T) *Server {
	t.Helper()
	b, err := broker.New(broker.Options{
		Store:    keystore.NewMemory(),
		Profiles: &broker.MemoryProfiles{},
		MaxTTL:   time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	s := New(b, Info{Backend: "memory"})
	if _, err := s.AddToken(context.Background(), &pb.AddTokenRequest{Name: "laptop", Token: testToken, Endpoint: "https://huggingface.co", NoVerify: true}); err != nil {
		t.Fatal(err)
	}
	return s
}

// detail returns the code and the ErrorDetail of a status error.
func detail(t *testing.T, err error) (codes.Code, *pb.ErrorDetail) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("%v is not a status error", err)
	}
	for _, d := range st.Details() {
		if ed, ok := d.(*pb.ErrorDetail); ok {
			return st.Code(), ed
		}
	}
	return st.Code(), nil
}

// TestStatusMapping is the daemon side of "gRPC codes mapped in one place":
// each broker error kind has its code and detail kind, the hint and reasons
// ride along, and anything else is Internal. The CLI's exit codes hang on
// these (usage 2, unreachable 3, no token fits 4).
func TestStatusMapping(t *testing.T) {
	tests := []struct {
		kind broker.Kind
		code codes.Code
		want pb.ErrorDetail_Kind
	}{
		{broker.KindInvalid, codes.InvalidArgument, pb.ErrorDetail_KIND_INVALID},
		{broker.KindNotFound, codes.NotFound, pb.ErrorDetail_KIND_NOT_FOUND},
		{broker.KindNoTokenFits, codes.PermissionDenied, pb.ErrorDetail_KIND_NO_TOKEN_FITS},
		{broker.KindAccessDenied, codes.PermissionDenied, pb.ErrorDetail_KIND_ACCESS_DENIED},
		{broker.KindLocked, codes.FailedPrecondition, pb.ErrorDetail_KIND_LOCKED},
		// Not Unavailable: the CLI reads that as "daemon not running".
		{broker.KindKeychain, codes.FailedPrecondition, pb.ErrorDetail_KIND_KEYCHAIN},
		{broker.KindHub, codes.FailedPrecondition, pb.ErrorDetail_KIND_HUB},
		{broker.KindInternal, codes.Internal, pb.ErrorDetail_KIND_UNSPECIFIED},
	}
	for _, tc := range tests {
		t.Run(tc.want.String(), func(t *testing.T) {
			err := toStatus(fmtWrap(&broker.Error{Kind: tc.kind, Msg: "msg", Hint: "run 'hfbroker x'", Reasons: []broker.Reason{{Profile: "p", Reason: "why"}}}))
			code, d := detail(t, err)
			if code != tc.code || d == nil || d.GetKind() != tc.want {
				t.Fatalf("toStatus = %v, %v; want %v, %v", code, d, tc.code, tc.want)
			}
			if d.GetHint() != "run 'hfbroker x'" || len(d.GetReasons()) != 1 || d.GetReasons()[0].GetProfile() != "p" || d.GetReasons()[0].GetReason() != "why" {
				t.Fatalf("detail %v lost the hint or the reasons", d)
			}
			if st, _ := status.FromError(err); st.Message() != "msg" {
				t.Fatalf("message %q, want the broker's", st.Message())
			}
		})
	}
	if code, _ := detail(t, toStatus(errors.New("disk on fire"))); code != codes.Internal {
		t.Fatalf("a plain error maps to %v, want Internal", code)
	}
}

// An error that quotes what its caller sent, say a token given for a profile
// name ('hfbroker token --profile hf_…' answered `no profile named "hf_…"`),
// leaves the daemon with the token cut out of its message, hint and reasons.
func TestNoTokenLeavesTheDaemonInErrorText(t *testing.T) {
	tok := "hf_" + strings.Repeat("AbCdEf0123", 4)
	for _, err := range []error{
		&broker.Error{Kind: broker.KindNotFound, Msg: fmt.Sprintf("no profile named %q", tok), Hint: "not " + tok,
			Reasons: []broker.Reason{{Profile: tok, Reason: "why " + tok}}},
		fmt.Errorf("open %s: gone", tok),
	} {
		serr := toStatus(err)
		st, _ := status.FromError(serr)
		text := st.Message()
		if _, d := detail(t, serr); d != nil {
			text += " " + d.GetHint()
			for _, r := range d.GetReasons() {
				text += " " + r.GetProfile() + " " + r.GetReason()
			}
		}
		if strings.Contains(text, tok[:20]) {
			t.Fatalf("the status carries the token: %s", text)
		}
		if !strings.Contains(st.Message(), audit.Redacted) {
			t.Fatalf("message %q does not say what was cut", st.Message())
		}
	}
}

// fmtWrap wraps err once, as callers inside the broker do: the mapping
// looks through wrapping.
func fmtWrap(err error) error { return errors.Join(err) }

// TestRequestValidation: malformed requests are refused before the broker
// acts, with InvalidArgument (or Unimplemented for what this daemon lacks),
// and the token never shows in an error.
func TestRequestValidation(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	badTTL := &durationpb.Duration{Seconds: 1, Nanos: -1}
	tests := []struct {
		name string
		call func() error
		code codes.Code
		text string
	}{
		{"add with a plain-http endpoint", func() error {
			_, err := s.AddToken(ctx, &pb.AddTokenRequest{Name: "x", Token: testToken, Endpoint: "http://hub.example", NoVerify: true})
			return err
		}, codes.InvalidArgument, "insecure endpoint"},
		{"add with an endpoint holding the token", func() error {
			_, err := s.AddToken(ctx, &pb.AddTokenRequest{Name: "x", Token: testToken, Endpoint: "https://hub.example/?t=" + testToken, NoVerify: true})
			return err
		}, codes.InvalidArgument, "invalid endpoint"},
		{"add with no endpoint", func() error {
			_, err := s.AddToken(ctx, &pb.AddTokenRequest{Name: "x", Token: testToken, NoVerify: true})
			return err
		}, codes.InvalidArgument, "invalid endpoint"},
		{"add with a token that is not one", func() error {
			_, err := s.AddToken(ctx, &pb.AddTokenRequest{Name: "x", Token: testToken + " x", Endpoint: "https://huggingface.co", NoVerify: true})
			return err
		}, codes.InvalidArgument, ""},
		{"lease with an invalid ttl", func() error {
			_, err := s.Lease(ctx, &pb.LeaseRequest{Ttl: badTTL})
			return err
		}, codes.InvalidArgument, "invalid ttl"},
		{"lease with a bad repo id", func() error {
			_, err := s.Lease(ctx, &pb.LeaseRequest{Repo: &pb.Repo{Id: "acme/../x"}})
			return err
		}, codes.InvalidArgument, "invalid repo"},
		{"lease with a repo name too long", func() error {
			_, err := s.Lease(ctx, &pb.LeaseRequest{Repo: &pb.Repo{Id: "acme/" + strings.Repeat("a", 97)}})
			return err
		}, codes.InvalidArgument, "longer than 96"},
		{"a proxy lease from a daemon without a proxy", func() error {
			_, err := s.Lease(ctx, &pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_PROXY})
			return err
		}, codes.Unimplemented, "no proxy"},
		{"lease of an unknown profile", func() error {
			_, err := s.Lease(ctx, &pb.LeaseRequest{Profile: "nope"})
			return err
		}, codes.NotFound, ""},
		{"renew with an invalid ttl", func() error {
			_, err := s.RenewLease(ctx, &pb.RenewLeaseRequest{Id: "x", Ttl: badTTL})
			return err
		}, codes.InvalidArgument, "invalid ttl"},
		{"revoke an unknown lease", func() error {
			_, err := s.RevokeLease(ctx, &pb.RevokeLeaseRequest{Id: "nope"})
			return err
		}, codes.NotFound, ""},
		{"check without a repo", func() error {
			_, err := s.Check(ctx, &pb.CheckRequest{})
			return err
		}, codes.InvalidArgument, "a repo is required"},
		{"check with a bad repo id", func() error {
			_, err := s.Check(ctx, &pb.CheckRequest{Repo: &pb.Repo{Id: "acme/llm.git"}})
			return err
		}, codes.InvalidArgument, "invalid repo"},
		{"migrate to an unknown backend", func() error {
			_, err := s.Migrate(ctx, &pb.MigrateRequest{To: "cloud"})
			return err
		}, codes.InvalidArgument, `cannot migrate to "cloud"`},
		{"migrate on a daemon that cannot", func() error {
			_, err := s.Migrate(ctx, &pb.MigrateRequest{To: "file"})
			return err
		}, codes.Unimplemented, "cannot migrate"},
		{"set an unknown default", func() error {
			_, err := s.SetDefault(ctx, &pb.SetDefaultRequest{Name: "nope"})
			return err
		}, codes.NotFound, ""},
		{"remove an unknown profile", func() error {
			_, err := s.RemoveToken(ctx, &pb.RemoveTokenRequest{Name: "nope"})
			return err
		}, codes.NotFound, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			st, ok := status.FromError(err)
			if err == nil || !ok || st.Code() != tc.code || !strings.Contains(st.Message(), tc.text) {
				t.Fatalf("err = %v; want %v with %q", err, tc.code, tc.text)
			}
			if strings.Contains(err.Error(), testToken) || strings.Contains(err.Error(), testToken[3:15]) {
				t.Fatalf("the error shows the token: %v", err)
			}
		})
	}
}

// TestValidRequestsReachTheBroker: the same server grants a lease and
// lists it, so the refusals above are the validation's, not a broken setup.
func TestValidRequestsReachTheBroker(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	resp, err := s.Lease(ctx, &pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_TOKEN, Ttl: durationpb.New(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetToken() != testToken || resp.GetProfile() != "laptop" {
		t.Fatalf("Lease = %v", resp.GetProfile())
	}
	ls, err := s.ListLeases(ctx, &pb.ListLeasesRequest{})
	if err != nil || len(ls.GetLeases()) != 1 {
		t.Fatalf("ListLeases = %v, %v", ls, err)
	}
	if _, err := s.RevokeLease(ctx, &pb.RevokeLeaseRequest{Id: resp.GetLeaseId()}); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Status(ctx, &pb.StatusRequest{}); err != nil || st.GetBackend() == "" {
		t.Fatalf("Status = %v, %v", st, err)
	}
}
