package cli

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hfbroker/hfbroker/internal/secret"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// doctorWorld is a HOME with huggingface_hub's token file holding the token
// of the stored profile "laptop", and a daemon that stores it.
type doctorWorld struct {
	home string
	d    *fakeDaemon
}

func newDoctorWorld(t *testing.T) *doctorWorld {
	t.Helper()
	w := &doctorWorld{home: t.TempDir()}
	hf := filepath.Join(w.home, ".cache", "huggingface")
	if err := os.MkdirAll(hf, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hf, "token"), []byte(tokWrite), 0o600); err != nil {
		t.Fatal(err)
	}
	fp := secret.Token(tokWrite).Fingerprint()
	w.d = &fakeDaemon{
		status: func(*pb.StatusRequest) (*pb.StatusResponse, error) {
			return &pb.StatusResponse{Backend: "keychain"}, nil
		},
		listProfiles: func(*pb.ListProfilesRequest) (*pb.ListProfilesResponse, error) {
			return &pb.ListProfilesResponse{Profiles: []*pb.Profile{{Name: "laptop", Endpoint: "https://huggingface.co", Fingerprint: fp}}}, nil
		},
		whoami: func(r *pb.WhoamiRequest) (*pb.WhoamiResponse, error) {
			return &pb.WhoamiResponse{Profile: &pb.Profile{Name: r.GetProfile(), Endpoint: "https://huggingface.co", Fingerprint: fp},
				User: "alice", TokenDisplayName: "laptop", TokenRole: "write", Orgs: []*pb.Org{{Name: "acme", Role: "admin"}}}, nil
		},
	}
	return w
}

func (w *doctorWorld) opts(io *IOStreams) *DoctorOptions {
	env := map[string]string{"HOME": w.home}
	return &DoctorOptions{IO: io, Daemon: connectTo(w.d), Endpoint: hubEndpoint, Env: func(k string) string { return env[k] },
		GitConfig: func(...string) (string, error) { return "", errors.New("exit status 1") }}
}

// doctor --json: the endpoint, the store, each profile with who it is, and
// the plaintext copies of tokens left in HOME, named by fingerprint and by
// the profile that holds the same token; the token itself nowhere.
func TestDoctorRunJSONShowsProfilesAndPlaintextCopiesByFingerprint(t *testing.T) {
	w := newDoctorWorld(t)
	io, out, errOut := testIO()
	opts := w.opts(io)
	opts.JSON = true
	if err := doctorRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	var got doctorJSON
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	fp := secret.Token(tokWrite).Fingerprint()
	tokenFile := filepath.Join(w.home, ".cache", "huggingface", "token")
	if got.Endpoint != "https://huggingface.co" || got.Backend != "keychain" {
		t.Errorf("endpoint %q, backend %q", got.Endpoint, got.Backend)
	}
	if len(got.Profiles) != 1 || got.Profiles[0].Profile != "laptop" || got.Profiles[0].User != "alice" ||
		got.Profiles[0].Fingerprint != fp || len(got.Profiles[0].Orgs) != 1 || got.Profiles[0].Local != nil {
		t.Errorf("profiles = %+v", got.Profiles)
	}
	want := []plaintextJSON{{Path: tokenFile, Kind: "hf", Fingerprint: fp, Profile: "laptop"}}
	if !slices.Equal(got.Plaintext, want) {
		t.Errorf("plaintext = %+v, want %+v", got.Plaintext, want)
	}
	if !slices.Equal(w.d.calls, []string{"Status", "ListProfiles", "Whoami"}) || w.d.closed != 1 {
		t.Errorf("asked the daemon %v, closed %d times", w.d.calls, w.d.closed)
	}
	assertNoToken(t, tokWrite, out.String(), errOut.String())
}

// Plain doctor: one paragraph per profile, then the plaintext copies with
// the command that moves them.
func TestDoctorRunTextNamesEachProfileAndTheImportCommand(t *testing.T) {
	w := newDoctorWorld(t)
	io, out, errOut := testIO()
	if err := doctorRun(context.Background(), w.opts(io)); err != nil {
		t.Fatal(err)
	}
	fp := secret.Token(tokWrite).Fingerprint()
	for _, want := range []string{
		"endpoint: https://huggingface.co\n",
		"store:    keychain\n",
		"laptop: alice, write token \"laptop\" (fingerprint " + fp + ")\n",
		"  org:    acme, role admin\n",
		"'hfbroker import --remove-plaintext'",
		filepath.Join(w.home, ".cache", "huggingface", "token") + " (hf token, fingerprint " + fp + ", same token as profile laptop)\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	assertNoToken(t, tokWrite, out.String(), errOut.String())
}

// --write without a REPO is a usage error before the daemon is asked.
func TestDoctorRunWriteWithoutARepoIsAUsageError(t *testing.T) {
	io, _, _ := testIO()
	d := &fakeDaemon{} // any call panics
	err := doctorRun(context.Background(), &DoctorOptions{IO: io, Daemon: connectTo(d), Endpoint: hubEndpoint, Env: noEnv, Write: true})
	if ue, ok := errors.AsType[*userError](err); !ok || ue.code != ExitUsage {
		t.Fatalf("err = %v, want a usage error", err)
	}
}
