package hubtest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"github.com/hfbroker/hfbroker/internal/hub"
)

// Paths of the OAuth routes.
const (
	OAuthDevicePath = "/oauth/device"
	OAuthTokenPath  = "/oauth/token"
)

// oauthState is the fake's OAuth authorization server: device codes waiting
// for approval, and refresh tokens, each valid until it is used once.
type oauthState struct {
	lifetime    time.Duration      // of an access token; 30 days unless set
	interval    int                // device-flow poll interval, seconds
	autoUser    string             // approve every device code for this user at once
	devices     map[string]*device // by device code
	refresh     map[string]*refreshToken
	issued      []string // every refresh token ever issued, in order
	refreshes   int      // successful refreshes
	refused     int      // refreshes refused with invalid_grant
	stall       chan struct{}
	stalled     chan struct{} // gets a value when a refresh waits on stall
	clientID    string        // the only client id accepted; "" accepts any
	lastClient  string
	failRefresh int           // answer the next n refreshes with 503
	accesses    []string      // every access token issued
	deviceCh    chan struct{} // gets a value when a device code is issued
}

type device struct {
	userCode string
	user     string // "" until approved
	denied   bool
	expires  time.Time
}

type refreshToken struct {
	user string
	used bool
}

// SetOAuthLifetime sets the lifetime of access tokens issued from now on.
func (h *Hub) SetOAuthLifetime(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.oauth.lifetime = d
}

// SetOAuthInterval sets the device-flow poll interval the fake announces.
func (h *Hub) SetOAuthInterval(seconds int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.oauth.interval = seconds
}

// AutoApprove approves every device code for user as soon as it is issued.
func (h *Hub) AutoApprove(user string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.oauth.autoUser = user
}

// Approve is the user approving, in a browser, every device code waiting
// for approval; it returns how many there were.
func (h *Hub) Approve(user string) int {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.users[user]; !ok {
		h.t.Fatalf("hubtest: Approve: no user %q", user)
	}
	n := 0
	for _, d := range h.oauth.devices {
		if d.user == "" && !d.denied {
			d.user = user
			n++
		}
	}
	return n
}

// WaitDevice waits until a device code waits for approval, or timeout.
func (h *Hub) WaitDevice(timeout time.Duration) bool {
	h.mu.Lock()
	ch := h.deviceChLocked()
	h.mu.Unlock()
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	for {
		if h.PendingDevices() > 0 {
			return true
		}
		select {
		case <-ch:
		case <-tm.C:
			return false
		}
	}
}

func (h *Hub) deviceChLocked() chan struct{} {
	if h.oauth.deviceCh == nil {
		h.oauth.deviceCh = make(chan struct{}, 1)
	}
	return h.oauth.deviceCh
}

// AccessTokens returns every OAuth access token issued so far, oldest first.
func (h *Hub) AccessTokens() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.oauth.accesses...)
}

// Deny refuses every device code waiting for approval.
func (h *Hub) Deny() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, d := range h.oauth.devices {
		if d.user == "" {
			d.denied = true
		}
	}
}

// PendingDevices counts the device codes waiting for approval.
func (h *Hub) PendingDevices() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, d := range h.oauth.devices {
		if d.user == "" && !d.denied {
			n++
		}
	}
	return n
}

// IssueOAuth issues an access and a refresh token for user, as an approved
// device login would (for imports of a huggingface_hub login).
func (h *Hub) IssueOAuth(user string) (access, refresh string, expiresAt time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.issueLocked(user)
}

// RefreshTokens returns every refresh token issued so far, oldest first.
func (h *Hub) RefreshTokens() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.oauth.issued...)
}

// Refreshes counts successful refreshes; Refused counts those refused
// with invalid_grant.
func (h *Hub) Refreshes() (ok, refused int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.oauth.refreshes, h.oauth.refused
}

// RevokeRefresh makes every refresh token of user invalid, as signing out
// of the device in the Hub's settings does.
func (h *Hub) RevokeRefresh(user string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.oauth.refresh {
		if r.user == user {
			r.used = true
		}
	}
}

// KillRefreshToken makes one refresh token invalid, as if already used.
func (h *Hub) KillRefreshToken(rt string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r, ok := h.oauth.refresh[rt]; ok {
		r.used = true
	}
}

// StallRefresh makes refreshes wait, before the fake decides anything, until
// the returned release is called. Stalled reports each refresh that waits.
func (h *Hub) StallRefresh() (stalled <-chan struct{}, release func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	stall, st := make(chan struct{}), make(chan struct{}, 64)
	h.oauth.stall, h.oauth.stalled = stall, st
	var done bool
	return st, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if !done {
			done = true
			close(stall)
			h.oauth.stall = nil
		}
	}
}

// FailRefreshes answers the next n refreshes with a 503.
func (h *Hub) FailRefreshes(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.oauth.failRefresh = n
}

// RequireClientID makes the fake refuse any other client id.
func (h *Hub) RequireClientID(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.oauth.clientID = id
}

// LastClientID is the client id of the last OAuth request.
func (h *Hub) LastClientID() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.oauth.lastClient
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func (h *Hub) issueLocked(user string) (access, refresh string, expiresAt time.Time) {
	o := &h.oauth
	if o.refresh == nil {
		o.refresh = map[string]*refreshToken{}
	}
	life := o.lifetime
	if life <= 0 {
		life = 30 * 24 * time.Hour
	}
	access = "hf_oauth_" + randHex(20)
	refresh = "hf_oauth_refresh_" + randHex(20) // shape UNVERIFIED
	expiresAt = h.now().Add(life)
	h.tokens[access] = &token{value: access, user: user, oauth: true,
		spec:     TokenSpec{Value: access, Role: hub.RoleWrite, ExpiresAt: expiresAt, CreatedAt: h.now().UTC()},
		approved: map[string]bool{}, revokedIn: map[string]bool{}}
	o.refresh[refresh] = &refreshToken{user: user}
	o.accesses = append(o.accesses, access)
	o.issued = append(o.issued, refresh)
	return access, refresh, expiresAt
}

func oauthErr(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]any{"error": code, "error_description": desc})
}

func (h *Hub) tokenAnswer(w http.ResponseWriter, user string) {
	access, refresh, exp := h.issueLocked(user)
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":  access,
		"refresh_token": refresh,
		"expires_in":    int64((exp.Sub(h.now()) + time.Second - 1) / time.Second),
		"token_type":    "bearer",
	})
}

func (h *Hub) serveOAuth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "", "Method not allowed")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthErr(w, http.StatusBadRequest, "invalid_request", "bad form")
		return
	}
	if r.URL.Path == OAuthTokenPath && r.PostForm.Get("grant_type") == hub.GrantRefreshToken {
		h.mu.Lock()
		stall, stalled := h.oauth.stall, h.oauth.stalled
		h.mu.Unlock()
		if stall != nil {
			stalled <- struct{}{}
			select {
			case <-stall:
			case <-r.Context().Done():
				return // the client gave up: nothing was decided
			case <-h.closing:
				return
			}
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	o := &h.oauth
	client := r.PostForm.Get("client_id")
	o.lastClient = client
	if client == "" || (o.clientID != "" && client != o.clientID) {
		oauthErr(w, http.StatusUnauthorized, "invalid_client", "unknown client")
		return
	}
	switch r.URL.Path {
	case OAuthDevicePath:
		if o.devices == nil {
			o.devices = map[string]*device{}
		}
		code, user := randHex(16), fmt.Sprintf("%s-%s", randHex(2), randHex(2))
		d := &device{userCode: user, expires: h.now().Add(15 * time.Minute), user: o.autoUser}
		o.devices[code] = d
		select {
		case h.deviceChLocked() <- struct{}{}:
		default:
		}
		interval := o.interval
		if interval <= 0 {
			interval = 5
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"device_code":               code,
			"user_code":                 user,
			"verification_uri":          h.srv.URL + "/oauth/device/verify",
			"verification_uri_complete": h.srv.URL + "/oauth/device/verify?user_code=" + user,
			"interval":                  interval,
			"expires_in":                900,
		})
	case OAuthTokenPath:
		switch r.PostForm.Get("grant_type") {
		case hub.GrantDeviceCode:
			d, ok := o.devices[r.PostForm.Get("device_code")]
			switch {
			case !ok:
				oauthErr(w, http.StatusBadRequest, "invalid_grant", "unknown device code")
			case d.denied:
				oauthErr(w, http.StatusBadRequest, hub.OAuthAccessDenied, "the user denied the request")
			case !h.now().Before(d.expires):
				oauthErr(w, http.StatusBadRequest, hub.OAuthExpiredToken, "the device code expired")
			case d.user == "":
				oauthErr(w, http.StatusBadRequest, hub.OAuthPending, "waiting for the user")
			default:
				delete(o.devices, r.PostForm.Get("device_code"))
				h.tokenAnswer(w, d.user)
			}
		case hub.GrantRefreshToken:
			if o.failRefresh > 0 {
				o.failRefresh--
				writeError(w, http.StatusServiceUnavailable, "", "Service Unavailable")
				return
			}
			rt, ok := o.refresh[r.PostForm.Get("refresh_token")]
			if !ok || rt.used {
				o.refused++
				oauthErr(w, http.StatusBadRequest, hub.OAuthInvalidGrant, "the refresh token is invalid or was already used")
				return
			}
			// Rotation: the old refresh token dies with this answer.
			rt.used = true
			o.refreshes++
			h.tokenAnswer(w, rt.user)
		default:
			oauthErr(w, http.StatusBadRequest, "unsupported_grant_type", "")
		}
	default:
		writeError(w, http.StatusNotFound, "", "Not Found")
	}
}
