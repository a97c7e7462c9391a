package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/hfbroker/hfbroker/internal/audit"
	"github.com/hfbroker/hfbroker/internal/lane"
	"github.com/hfbroker/hfbroker/internal/profilefile"
	"github.com/hfbroker/hfbroker/internal/secret"
	"github.com/hfbroker/hfbroker/internal/xdg"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// Issue 16: hfbroker's front end links no crypto/sha256, so for git's store
// and erase it sends git's password (ReportGitCredentialRequest.password)
// and the daemon fingerprints it. These tests run a whole daemon and read
// what it leaves behind: the reply, the audit log, the profile metadata and
// its own log, none of which may hold the password.

// startGitReportDaemon is startTestDaemon, with the daemon's XDG paths.
func startGitReportDaemon(t *testing.T) (*testDaemon, xdg.Paths) {
	t.Helper()
	var paths xdg.Paths
	d := startTestDaemonWith(t, func(o *Options) {
		p, err := xdg.Resolve(o.Env)
		if err != nil {
			t.Fatal(err)
		}
		paths = p
	})
	return d, paths
}

// gitAuditEvents returns the audit log's git.store and git.erase events,
// and fails t if the file holds the token.
func gitAuditEvents(t *testing.T, paths xdg.Paths, token string) []audit.Event {
	t.Helper()
	raw, err := os.ReadFile(paths.AuditFile())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), token) {
		t.Fatal("the audit log holds the token")
	}
	var evs []audit.Event
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	for sc.Scan() {
		var ev audit.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		if strings.HasPrefix(ev.Event, "git.") {
			evs = append(evs, ev)
		}
	}
	return evs
}

// profileStale reports whether the profile metadata on disk marks name
// stale, and fails t if the file holds the token.
func profileStale(t *testing.T, paths xdg.Paths, name, token string) bool {
	t.Helper()
	raw, err := os.ReadFile(paths.ProfilesFile())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), token) {
		t.Fatal("the profile metadata holds the token")
	}
	profiles, _, err := (&profilefile.Store{Path: paths.ProfilesFile()}).Load()
	if err != nil {
		t.Fatal(err)
	}
	p, ok := profiles[name]
	if !ok {
		t.Fatalf("no profile %q on disk", name)
	}
	return p.Stale
}

func TestGitStoreReportWithOnlyThePasswordNamesItsProfile(t *testing.T) {
	checkNoLeaks(t)
	d, paths := startGitReportDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Over the lane, as the front sends it: the password, no fingerprint.
	req := &pb.ReportGitCredentialRequest{Operation: pb.GitOperation_GIT_OPERATION_STORE, Password: d.token,
		Repo: &pb.Repo{Type: pb.RepoType_REPO_TYPE_MODEL, Id: "acme/llm"}, Host: "huggingface.co"}
	var resp pb.ReportGitCredentialResponse
	if err := d.laneConn(t).Invoke(ctx, "ReportGitCredential", req, &resp); err != nil {
		t.Fatalf("ReportGitCredential: %v", err)
	}
	if !resp.GetKnown() || resp.GetProfile() != "laptop" {
		t.Fatalf("store of the laptop token by its password: known %v, profile %q; want true, laptop", resp.GetKnown(), resp.GetProfile())
	}
	if b, _ := proto.Marshal(&resp); strings.Contains(string(b), d.token) {
		t.Fatal("the reply holds the token")
	}

	// The same over gRPC, with the fingerprint too (they agree).
	both := proto.CloneOf(req)
	both.Fingerprint = secret.Fingerprint(d.token)
	g, err := d.grpcClient(t).ReportGitCredential(ctx, both)
	if err != nil || !g.GetKnown() || g.GetProfile() != "laptop" {
		t.Fatalf("store with an agreeing fingerprint and password: %v, %v; want known, laptop", g, err)
	}

	evs := gitAuditEvents(t, paths, d.token)
	if len(evs) != 2 {
		t.Fatalf("%d git audit events, want 2: %+v", len(evs), evs)
	}
	for _, ev := range evs {
		if ev.Event != "git.store" || ev.Fingerprint != secret.Fingerprint(d.token) || ev.Profile != "laptop" || ev.Repo != "acme/llm" {
			t.Errorf("audit event %s fingerprint %q profile %q repo %q; want git.store %q laptop acme/llm",
				ev.Event, ev.Fingerprint, ev.Profile, ev.Repo, secret.Fingerprint(d.token))
		}
	}
	if profileStale(t, paths, "laptop", d.token) {
		t.Error("a store marked the profile stale")
	}
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(d.logs.String(), d.token) {
		t.Fatal("the daemon's log holds the token")
	}
	if !strings.Contains(d.logs.String(), "method=ReportGitCredential") {
		t.Fatalf("debug log has no access line for ReportGitCredential:\n%s", d.logs)
	}
}

func TestGitReportWhosePasswordAndFingerprintDisagreeIsRefused(t *testing.T) {
	checkNoLeaks(t)
	d, paths := startGitReportDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// An erase naming another token's fingerprint and the laptop token's
	// password: neither is believed, nothing is marked, nothing audited.
	req := &pb.ReportGitCredentialRequest{Operation: pb.GitOperation_GIT_OPERATION_ERASE,
		Fingerprint: secret.Fingerprint(d.token + "x"), Password: d.token, Host: "huggingface.co"}
	_, gerr := d.grpcClient(t).ReportGitCredential(ctx, req)
	st := status.Convert(gerr)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("gRPC: %v %q; want InvalidArgument", st.Code(), st.Message())
	}
	if strings.Contains(st.Message(), d.token) || strings.Contains(st.Message(), "\n") || st.Message() == "" {
		t.Fatalf("gRPC error message is not one line free of the token: %q", strings.ReplaceAll(st.Message(), d.token, "<TOKEN>"))
	}
	for _, x := range st.Details() {
		if m, ok := x.(proto.Message); ok {
			if b, _ := proto.Marshal(m); strings.Contains(string(b), d.token) {
				t.Fatal("the error's detail holds the token")
			}
		}
	}
	lerr := d.laneConn(t).Invoke(ctx, "ReportGitCredential", req, new(pb.ReportGitCredentialResponse))
	le, ok := errors.AsType[*lane.Error](lerr)
	if !ok || codes.Code(le.Code) != codes.InvalidArgument || le.Message != st.Message() {
		t.Fatalf("lane: %T %v; want InvalidArgument %q", lerr, lerr, st.Message())
	}
	if strings.Contains(lerr.Error(), d.token) {
		t.Fatal("the lane's error holds the token")
	}

	if evs := gitAuditEvents(t, paths, d.token); len(evs) != 0 {
		t.Fatalf("a refused report was audited: %+v", evs)
	}
	if profileStale(t, paths, "laptop", d.token) {
		t.Fatal("a refused erase marked the profile stale")
	}
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(d.logs.String(), d.token) {
		t.Fatal("the daemon's log holds the token")
	}
}

func TestGitEraseReportWithThePasswordMarksTheProfileStale(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  func(token string) *pb.ReportGitCredentialRequest
	}{
		{"by fingerprint", func(token string) *pb.ReportGitCredentialRequest {
			return &pb.ReportGitCredentialRequest{Operation: pb.GitOperation_GIT_OPERATION_ERASE, Fingerprint: secret.Fingerprint(token)}
		}},
		{"by password", func(token string) *pb.ReportGitCredentialRequest {
			return &pb.ReportGitCredentialRequest{Operation: pb.GitOperation_GIT_OPERATION_ERASE, Password: token}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkNoLeaks(t)
			d, paths := startGitReportDaemon(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if profileStale(t, paths, "laptop", d.token) {
				t.Fatal("the profile is stale before any erase")
			}

			var resp pb.ReportGitCredentialResponse
			if err := d.laneConn(t).Invoke(ctx, "ReportGitCredential", tc.req(d.token), &resp); err != nil {
				t.Fatalf("ReportGitCredential: %v", err)
			}
			if !resp.GetKnown() || resp.GetProfile() != "laptop" {
				t.Fatalf("erase: known %v, profile %q; want true, laptop", resp.GetKnown(), resp.GetProfile())
			}
			if !profileStale(t, paths, "laptop", d.token) {
				t.Fatal("the erase did not mark the profile stale")
			}
			evs := gitAuditEvents(t, paths, d.token)
			if len(evs) != 1 || evs[0].Event != "git.erase" || evs[0].Fingerprint != secret.Fingerprint(d.token) || evs[0].Profile != "laptop" {
				t.Fatalf("audit: %+v; want one git.erase of laptop by its fingerprint", evs)
			}
			// The erase logged no one out: the token is still leased.
			var lease pb.LeaseResponse
			if err := d.laneConn(t).Invoke(ctx, "Lease", &pb.LeaseRequest{Purpose: pb.Purpose_PURPOSE_TOKEN}, &lease); err != nil || lease.GetToken() != d.token {
				t.Fatalf("lease after the erase: %v (token matches: %v)", err, lease.GetToken() == d.token)
			}
			if err := d.stop(); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(d.logs.String(), d.token) {
				t.Fatal("the daemon's log holds the token")
			}
		})
	}
}
