package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hfbroker/hfbroker/internal/hub"
	"github.com/hfbroker/hfbroker/internal/secret"
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

// scriptedDevice answers the device flow from a script of poll results.
type scriptedDevice struct {
	polls []error // nil: the token
	n     int
}

func (d *scriptedDevice) StartDevice(context.Context, string, string) (*hub.DeviceCode, error) {
	return &hub.DeviceCode{DeviceCode: "dev", UserCode: "ABCD-1234", VerificationURI: "https://hf.example/device",
		VerificationURIComplete: "https://hf.example/device?user_code=ABCD-1234", Interval: 5, ExpiresIn: 900}, nil
}

func (d *scriptedDevice) PollDevice(context.Context, string, string, string, time.Time) (*hub.OAuthToken, error) {
	err := d.polls[d.n]
	d.n++
	if err != nil {
		return nil, err
	}
	return &hub.OAuthToken{Access: "hf_oauth_" + secret.Token(strings.Repeat("a", 40)), Refresh: "hf_oauth_refresh_x",
		ExpiresAt: time.Now().Add(30 * 24 * time.Hour)}, nil
}

// Issue 14: the device flow polls as RFC 8628 and huggingface_hub do:
// authorization_pending keeps polling, slow_down adds 5 s to the interval,
// a 5xx or non-JSON answer is transient; access_denied ends with exit 4.
func TestLoginWebPollsUntilApprovedAndHandsBothTokensToTheDaemon(t *testing.T) {
	pending := &hub.OAuthError{Code: hub.OAuthPending}
	transient := fmt.Errorf("x: %w", hub.ErrOAuthTransient)
	for _, tc := range []struct {
		name      string
		polls     []error
		waits     []time.Duration
		wantCode  int
		wantStore bool
	}{
		{"pending, slow_down and a 5xx, then approved", []error{pending, &hub.OAuthError{Code: hub.OAuthSlowDown}, transient, nil},
			[]time.Duration{5 * time.Second, 10 * time.Second, 10 * time.Second}, 0, true},
		{"denied in the browser", []error{pending, &hub.OAuthError{Code: hub.OAuthAccessDenied}}, []time.Duration{5 * time.Second}, ExitDenied, false},
		{"the code expired", []error{&hub.OAuthError{Code: hub.OAuthExpiredToken}}, nil, ExitError, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			f := &Factory{IO: &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut, InFd: -1},
				Env: func(k string) string {
					return map[string]string{"HOME": t.TempDir(), "HF_ENDPOINT": "https://hf.example"}[k]
				}}
			d := newFakeVaultDaemon(true)
			d.locked = false
			var waits []time.Duration
			after := func(d time.Duration) <-chan time.Time {
				waits = append(waits, d)
				ch := make(chan time.Time, 1)
				ch <- time.Time{}
				return ch
			}
			err := runLoginWeb(context.Background(), &LoginOptions{IO: f.IO, Factory: f, Web: true}, &scriptedDevice{polls: tc.polls}, after,
				func(fn func(loginAPI) error) error { return fn(d) })
			if tc.wantCode == 0 && err != nil {
				t.Fatal(err)
			}
			if tc.wantCode != 0 {
				ue, ok := errors.AsType[*userError](err)
				if !ok || ue.code != tc.wantCode {
					t.Fatalf("err = %v, want exit %d", err, tc.wantCode)
				}
			}
			if !slices.Equal(waits, tc.waits) {
				t.Fatalf("waited %v, want %v", waits, tc.waits)
			}
			if (len(d.stored) == 1) != tc.wantStore {
				t.Fatalf("stored %d tokens", len(d.stored))
			}
			if !strings.Contains(errOut.String(), "ABCD-1234") || !strings.Contains(errOut.String(), "https://hf.example/device?user_code=ABCD-1234") {
				t.Fatalf("the code and URL were not shown: %q", errOut.String())
			}
			if strings.Contains(out.String()+errOut.String(), "hf_oauth_") {
				t.Fatal("a token was printed")
			}
		})
	}
}
