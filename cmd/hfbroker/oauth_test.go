//go:build unix

package main

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/zalando/go-keyring"

	"github.com/hfbroker/hfbroker/internal/hub"
	"github.com/hfbroker/hfbroker/internal/secret"
)

func init() { extraCmds["hub-oauth"] = cmdHubOAuth }

// hub-oauth drives the fake Hub's OAuth server (issue 14):
//
//	hub-oauth interval SECONDS     device-flow poll interval
//	hub-oauth lifetime DURATION    lifetime of access tokens issued from now on
//	hub-oauth approve USER         wait for a device code, then approve it as USER
//	hub-oauth refreshes MIN        at least MIN refreshes succeeded, none refused
//	hub-oauth replay-refused       every refresh token but the newest is refused when replayed
//	hub-oauth revoke USER          the Hub forgets USER's refresh tokens
//	hub-oauth stall                refreshes wait at the Hub until release
//	hub-oauth wait-stalled         a refresh is waiting at the Hub
//	hub-oauth release              let stalled refreshes through
//	hub-oauth no-secret-in PATH... no file holds an issued access or refresh token
//	hub-oauth stored-tokens FILE SECTION USER [expired] [dead]  append a huggingface_hub OAuth section
func cmdHubOAuth(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) == 0 {
		ts.Fatalf("usage: hub-oauth VERB ...")
	}
	h := scriptHub(ts)
	ts.Defer(func() {
		if ts.Getenv("HFBROKER_BACKEND") == "keychain" {
			for _, n := range []string{"oauth-alice", "oauth-alice-2", "oauth-alice-3", "oauth-alice-4", "work-oauth", "imported"} {
				keyring.Delete(ts.Getenv("KEYCHAIN_SERVICE"), n)
			}
		}
	})
	switch args[0] {
	case "interval":
		n, err := strconv.Atoi(args[1])
		ts.Check(err)
		h.SetOAuthInterval(n)
	case "lifetime":
		d, err := time.ParseDuration(args[1])
		ts.Check(err)
		h.SetOAuthLifetime(d)
	case "approve":
		if !h.WaitDevice(30 * time.Second) {
			ts.Fatalf("no device code was asked for within 30s")
		}
		if n := h.Approve(args[1]); n != 1 {
			ts.Fatalf("approved %d device codes, want 1", n)
		}
	case "refreshes":
		want, err := strconv.Atoi(args[1])
		ts.Check(err)
		ok, refused := h.Refreshes()
		ts.Logf("refreshes: %d ok, %d refused", ok, refused)
		if (ok < want || refused != 0) != neg {
			ts.Fatalf("%d refreshes ok, %d refused; want at least %d and none refused", ok, refused, want)
		}
	case "replay-refused":
		issued := h.RefreshTokens()
		if len(issued) < 2 {
			ts.Fatalf("only %d refresh tokens were issued", len(issued))
		}
		c := &hub.Client{HTTP: h.Client()}
		for i, rt := range issued[:len(issued)-1] {
			_, err := c.Refresh(context.Background(), h.URL(), hub.DefaultOAuthClientID, secret.Token(rt), time.Now())
			if !hub.IsOAuthError(err, hub.OAuthInvalidGrant) {
				ts.Fatalf("replayed refresh token %d of %d: %v, want invalid_grant", i+1, len(issued), err)
			}
		}
	case "revoke":
		h.RevokeRefresh(args[1])
	case "stall":
		stalled, release := h.StallRefresh()
		ts.Defer(release)
		stallState.Store(ts, stallPair{stalled, release})
	case "wait-stalled":
		select {
		case <-stallOf(ts).stalled:
		case <-time.After(60 * time.Second):
			ts.Fatalf("no refresh reached the Hub within 60s")
		}
	case "release":
		stallOf(ts).release()
	case "no-secret-in":
		needles := append(h.AccessTokens(), h.RefreshTokens()...)
		if len(needles) == 0 {
			ts.Fatalf("no OAuth token was issued")
		}
		for _, root := range args[1:] {
			filepath.WalkDir(ts.MkAbs(root), func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() || !d.Type().IsRegular() {
					return nil
				}
				b, err := os.ReadFile(path)
				if err != nil {
					return nil
				}
				for _, n := range needles {
					if strings.Contains(string(b), n) {
						ts.Fatalf("%s holds an OAuth token", path)
					}
				}
				return nil
			})
		}
	case "stored-tokens":
		// stored-tokens FILE SECTION USER [expired] [dead]: append a
		// huggingface_hub OAuth section; "dead": its refresh token is
		// refused. Its tokens go to $OAUTH_ACCESS_<SECTION> and $OAUTH_REFRESH_<SECTION>.
		access, refresh, exp := h.IssueOAuth(args[3])
		for _, a := range args[4:] {
			switch a {
			case "expired":
				exp = time.Now().Add(-time.Hour)
			case "dead":
				h.KillRefreshToken(refresh)
			}
		}
		body := "[" + args[2] + "]\nhf_token = " + access + "\nrefresh_token = " + refresh +
			"\nexpires_at = " + strconv.FormatInt(exp.Unix(), 10) + "\n"
		path := ts.MkAbs(args[1])
		ts.Check(os.MkdirAll(filepath.Dir(path), 0o700))
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		ts.Check(err)
		_, err = f.WriteString(body)
		ts.Check(err)
		ts.Check(f.Close())
		key := strings.NewReplacer("-", "_").Replace(args[2])
		ts.Setenv("OAUTH_ACCESS_"+key, access)
		ts.Setenv("OAUTH_REFRESH_"+key, refresh)
	default:
		ts.Fatalf("hub-oauth: unknown verb %q", args[0])
	}
}

type stallPair struct {
	stalled <-chan struct{}
	release func()
}

// stallState is per script (scripts run in parallel): ts -> stallPair.
var stallState sync.Map

func stallOf(ts *testscript.TestScript) stallPair {
	v, ok := stallState.Load(ts)
	if !ok {
		ts.Fatalf("hub-oauth stall first")
	}
	return v.(stallPair)
}
