package hub_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hfbroker/hfbroker/internal/hub"
	"github.com/hfbroker/hfbroker/internal/secret"
)

// Issue 14: the token endpoint's answers, as huggingface_hub reads them: an
// OAuth error is typed (pending, slow_down, invalid_grant…), a 5xx or an
// answer that is not JSON is transient, and no error text holds the refresh
// token that was sent.
func TestTheTokenEndpointsAnswersAreTyped(t *testing.T) {
	const refresh = "hf_oauth_refresh_SECRETSECRETSECRET"
	for _, tc := range []struct {
		name      string
		status    int
		body      string
		code      string // an OAuthError with this code
		transient bool
	}{
		{"authorization_pending", 400, `{"error":"authorization_pending"}`, hub.OAuthPending, false},
		{"slow_down", 400, `{"error":"slow_down"}`, hub.OAuthSlowDown, false},
		{"invalid_grant", 400, `{"error":"invalid_grant","error_description":"bad ` + refresh + `"}`, hub.OAuthInvalidGrant, false},
		{"a 502 gateway page", 502, `<html>Bad Gateway</html>`, "", true},
		{"a 503 with JSON", 503, `{"error":"unavailable"}`, "", true},
		{"a 200 that is not JSON", 200, `<html>hello</html>`, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				if r.Method != http.MethodPost || r.URL.Path != "/oauth/token" || !strings.Contains(string(b), "grant_type=refresh_token") {
					t.Errorf("unexpected request %s %s %s", r.Method, r.URL.Path, b)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			_, err := (&hub.Client{HTTP: srv.Client()}).Refresh(context.Background(), srv.URL, hub.DefaultOAuthClientID, secret.Token(refresh), time.Now())
			if err == nil {
				t.Fatal("no error")
			}
			if tc.code != "" && !hub.IsOAuthError(err, tc.code) {
				t.Fatalf("err = %v, want OAuth error %s", err, tc.code)
			}
			if errors.Is(err, hub.ErrOAuthTransient) != tc.transient {
				t.Fatalf("err = %v, transient %v, want %v", err, !tc.transient, tc.transient)
			}
			if strings.Contains(err.Error(), "SECRETSECRET") {
				t.Fatalf("the error holds the refresh token: %q", err)
			}
		})
	}
}

func TestARefreshAnswerGivesTheNewPairAndItsExpiry(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"access_token":"hf_oauth_new","refresh_token":"rt2","expires_in":2592000,"token_type":"bearer"}`)
	}))
	defer srv.Close()
	now := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	tok, err := (&hub.Client{HTTP: srv.Client()}).Refresh(context.Background(), srv.URL, "c", "rt1", now)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Access != "hf_oauth_new" || tok.Refresh != "rt2" || !tok.ExpiresAt.Equal(now.Add(30*24*time.Hour)) {
		t.Fatalf("got %+v", tok)
	}
}
