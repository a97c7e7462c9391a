package cli

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// Issue 14: doctor shows every expiring token's expiry and warns when one
// expires within 7 days without a way to refresh it, or can no longer be
// refreshed.
func TestDoctorWarnsAboutTokensThatExpireSoonOrCannotBeRefreshed(t *testing.T) {
	now := time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(now.Add(d)) }
	for _, tc := range []struct {
		name string
		p    *pb.Profile
		want string // "" no warning; "-" no expiry at all
	}{
		{"a classic token that never expires", &pb.Profile{Name: "laptop"}, "-"},
		{"a token expiring in 3 days", &pb.Profile{Name: "ci", ExpiresAt: at(72 * time.Hour), Endpoint: "https://hf.co"}, "expires within 7 days"},
		{"a token expiring in 30 days", &pb.Profile{Name: "ci", ExpiresAt: at(30 * 24 * time.Hour)}, ""},
		// Not "expires within 7 days": it is dead already.
		{"a token that has expired", &pb.Profile{Name: "ci", ExpiresAt: at(-time.Hour), Endpoint: "https://hf.co"},
			"has expired: create a new token at https://hf.co/settings/tokens and run 'hfbroker login --name ci'"},
		{"an OAuth token the daemon refreshes", &pb.Profile{Name: "oauth-alice", Oauth: true, ExpiresAt: at(time.Hour)}, ""},
		{"an OAuth token whose refresh was refused", &pb.Profile{Name: "oauth-alice", Oauth: true, NeedsLogin: true, ExpiresAt: at(-time.Hour)},
			"hfbroker login --web --name oauth-alice"},
		{"an OAuth token expired and not refreshed", &pb.Profile{Name: "oauth-alice", Oauth: true, ExpiresAt: at(-time.Minute)}, "has expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := profileExpiryCheck(tc.p, now)
			switch {
			case tc.want == "-":
				if e != nil {
					t.Fatalf("got %+v, want nothing", e)
				}
			case e == nil:
				t.Fatal("no expiry shown")
			case tc.want == "" && e.Warning != "":
				t.Fatalf("warning %q, want none", e.Warning)
			case !strings.Contains(e.Warning, tc.want):
				t.Fatalf("warning %q, want it to say %q", e.Warning, tc.want)
			}
		})
	}
}

// scriptedLogin is a daemon whose browser login answers from a script.
type scriptedLogin struct {
	*fakeVaultDaemon
	states []pb.PollWebLoginResponse_State
	fail   error // returned after the states
	n      int
}

func (d *scriptedLogin) StartWebLogin(context.Context, *pb.StartWebLoginRequest) (*pb.StartWebLoginResponse, error) {
	return &pb.StartWebLoginResponse{LoginId: "w-1", UserCode: "ABCD-1234", VerificationUri: "https://hf.example/device",
		VerificationUriComplete: "https://hf.example/device?user_code=ABCD-1234", Interval: 5, ExpiresIn: 900}, nil
}

func (d *scriptedLogin) PollWebLogin(context.Context, *pb.PollWebLoginRequest) (*pb.PollWebLoginResponse, error) {
	if d.n == len(d.states) {
		return nil, d.fail
	}
	st := d.states[d.n]
	d.n++
	r := &pb.PollWebLoginResponse{State: st}
	if st == pb.PollWebLoginResponse_STATE_DONE {
		r.Stored = &pb.AddTokenResponse{Profile: &pb.Profile{Name: "oauth-alice", User: "alice", Oauth: true}}
	}
	return r, nil
}

// Issue 14: login --web shows the code and URL, polls at the Hub's
// interval, 5 s slower after slow_down, and reports the stored profile;
// the daemon's refusal (denied, expired) ends it with the daemon's error.
func TestLoginWebPollsAtTheHubsIntervalUntilTheDaemonHasStoredTheLogin(t *testing.T) {
	const (
		pending  = pb.PollWebLoginResponse_STATE_PENDING
		slowDown = pb.PollWebLoginResponse_STATE_SLOW_DOWN
		done     = pb.PollWebLoginResponse_STATE_DONE
	)
	denied := errors.New("the browser login was denied")
	for _, tc := range []struct {
		name   string
		states []pb.PollWebLoginResponse_State
		fail   error
		waits  []time.Duration
		want   string
	}{
		{"pending and slow_down, then approved", []pb.PollWebLoginResponse_State{pending, slowDown, pending, done}, nil,
			[]time.Duration{5 * time.Second, 5 * time.Second, 10 * time.Second, 10 * time.Second}, `Stored profile "oauth-alice" (user alice, browser login`},
		{"denied in the browser", []pb.PollWebLoginResponse_State{pending}, denied, []time.Duration{5 * time.Second, 5 * time.Second}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			home := t.TempDir()
			f := &Factory{IO: &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut, InFd: -1},
				Env: func(k string) string { return map[string]string{"HOME": home, "HF_ENDPOINT": "https://hf.example"}[k] }}
			d := &scriptedLogin{fakeVaultDaemon: newFakeVaultDaemon(true), states: tc.states, fail: tc.fail}
			var waits []time.Duration
			after := func(d time.Duration) <-chan time.Time {
				waits = append(waits, d)
				ch := make(chan time.Time, 1)
				ch <- time.Time{}
				return ch
			}
			err := loginWebRun(context.Background(), &LoginOptions{IO: f.IO, Daemon: connectTo(d), Prompter: f.Prompter(), Endpoint: f.Endpoint, Config: f.Config, Env: f.Env, Web: true, After: after})
			if tc.fail != nil && !errors.Is(err, tc.fail) {
				t.Fatalf("err = %v, want %v", err, tc.fail)
			}
			if tc.fail == nil && err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(waits, tc.waits) {
				t.Fatalf("waited %v, want %v", waits, tc.waits)
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Fatalf("stdout %q, want %q", out.String(), tc.want)
			}
			if !strings.Contains(errOut.String(), "ABCD-1234") || !strings.Contains(errOut.String(), "https://hf.example/device?user_code=ABCD-1234") {
				t.Fatalf("the code and URL were not shown: %q", errOut.String())
			}
		})
	}
}
