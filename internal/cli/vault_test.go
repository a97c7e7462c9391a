package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	rpccode "google.golang.org/genproto/googleapis/rpc/code"

	"github.com/hfbroker/hfbroker/internal/lane"
	"github.com/hfbroker/hfbroker/internal/secret"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

const testVaultPath = "/home/alice/.local/share/hfbroker/vault.age"

// fakeVaultDaemon answers Status, Unlock and AddToken the way a daemon on
// the file backend does: an absent vault is created only when the request
// says create, a locked vault refuses AddToken with KIND_LOCKED.
type fakeVaultDaemon struct {
	Daemon  // nil: any other call panics
	backend string
	exists  bool
	locked  bool
	pass    string
	unlocks []*pb.UnlockRequest
	stored  []string // tokens given to AddToken
}

func newFakeVaultDaemon(exists bool) *fakeVaultDaemon {
	return &fakeVaultDaemon{backend: "file", exists: exists, locked: true, pass: "the vault passphrase"}
}

func (d *fakeVaultDaemon) Close() error { return nil }

func (d *fakeVaultDaemon) Status(context.Context, *pb.StatusRequest) (*pb.StatusResponse, error) {
	return &pb.StatusResponse{Backend: d.backend, Locked: d.locked, VaultExists: d.exists, VaultPath: testVaultPath,
		BackendReason: "auto: no Secret Service on this machine (no D-Bus session)"}, nil
}

func (d *fakeVaultDaemon) Unlock(_ context.Context, req *pb.UnlockRequest) (*pb.UnlockResponse, error) {
	// The CLI clears the passphrase after the call: keep a copy.
	d.unlocks = append(d.unlocks, &pb.UnlockRequest{Passphrase: bytes.Clone(req.GetPassphrase()), Create: req.GetCreate()})
	switch {
	case d.backend != "file":
		return nil, &lane.Error{Code: rpccode.Code_INVALID_ARGUMENT, Message: "the keychain backend has no passphrase to unlock"}
	case !d.exists && !req.GetCreate():
		return nil, &lane.Error{Code: rpccode.Code_INVALID_ARGUMENT, Message: "there is no vault at " + testVaultPath + " yet"}
	case !d.exists:
		d.exists, d.locked, d.pass = true, false, string(req.GetPassphrase())
		return &pb.UnlockResponse{Created: true, VaultPath: testVaultPath}, nil
	case string(req.GetPassphrase()) != d.pass:
		// As the daemon answers (broker.KindAccessDenied).
		return nil, &lane.Error{Code: rpccode.Code_PERMISSION_DENIED, Message: "wrong passphrase",
			Detail: &pb.ErrorDetail{Kind: pb.ErrorDetail_KIND_ACCESS_DENIED, Hint: "try again; each wrong passphrase makes the next answer slower"}}
	}
	d.locked = false
	return &pb.UnlockResponse{VaultPath: testVaultPath}, nil
}

func (d *fakeVaultDaemon) AddToken(_ context.Context, req *pb.AddTokenRequest) (*pb.AddTokenResponse, error) {
	if d.locked {
		return nil, &lane.Error{Code: rpccode.Code_FAILED_PRECONDITION, Message: "locked: run 'hfbroker unlock'",
			Detail: &pb.ErrorDetail{Kind: pb.ErrorDetail_KIND_LOCKED}}
	}
	d.stored = append(d.stored, req.GetToken())
	return &pb.AddTokenResponse{Profile: &pb.Profile{Name: "laptop", User: "alice", TokenRole: "write",
		Fingerprint: secret.Token(req.GetToken()).Fingerprint(), Default: true}}, nil
}

// vaultWorld is a Factory whose terminal answers from a script of entries.
type vaultWorld struct {
	f           *Factory
	out, errOut bytes.Buffer
	answers     []string
	asked       int
}

func newVaultWorld(t *testing.T, terminal bool, stdin string, answers ...string) *vaultWorld {
	t.Helper()
	w := &vaultWorld{answers: answers}
	env := map[string]string{"HOME": t.TempDir(), "HF_ENDPOINT": "https://huggingface.co"}
	w.f = &Factory{
		IO:  &IOStreams{In: strings.NewReader(stdin), Out: &w.out, ErrOut: &w.errOut, InFd: -1},
		Env: func(k string) string { return env[k] },
		ReadPassword: func(int) ([]byte, error) {
			if w.asked >= len(w.answers) {
				return nil, errors.New("the test typed nothing more")
			}
			w.asked++
			return []byte(w.answers[w.asked-1]), nil
		},
	}
	w.f.IO.SetStdinTTY(terminal)
	return w
}

func (w *vaultWorld) output() string { return w.out.String() + w.errOut.String() }

// Issue 19: the first `unlock` created the vault from one unconfirmed entry,
// with no length check, and printed only "Unlocked". Creating a vault now
// asks twice, refuses under 8 characters unless --allow-short, says it
// created a vault and where, and only then lets the daemon create.
func TestFirstUnlockDoesNotCreateTheVaultFromOneUnconfirmedEntry(t *testing.T) {
	tests := []struct {
		name       string
		exists     bool
		allowShort bool
		answers    []string
		wantErr    string // "" for success
		wantCreate bool
		wantOut    string
	}{
		{name: "a new vault takes the passphrase typed twice", answers: []string{"correct horse", "correct horse"},
			wantCreate: true, wantOut: "Created a new vault at " + testVaultPath},
		{name: "two different entries create nothing", answers: []string{"correct horse", "correct hrose"},
			wantErr: "the passphrases differ"},
		{name: "a short passphrase is refused before it is repeated", answers: []string{"short"},
			wantErr: "needs at least 8"},
		{name: "--allow-short accepts a short one, still typed twice", allowShort: true, answers: []string{"short", "short"},
			wantCreate: true, wantOut: "Created a new vault"},
		{name: "an existing vault is asked for once and never created", exists: true, answers: []string{"the vault passphrase"},
			wantOut: "Unlocked"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newVaultWorld(t, true, "", tc.answers...)
			d := newFakeVaultDaemon(tc.exists)
			err := unlockRun(context.Background(), &UnlockOptions{IO: w.f.IO, Daemon: connectTo(d), Prompter: w.f.Prompter(), Env: w.f.Env, AllowShort: tc.allowShort})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("unlock = %v, want an error containing %q", err, tc.wantErr)
				}
				if len(d.unlocks) != 0 || d.exists {
					t.Fatalf("the daemon was asked to unlock %d time(s); vault exists %v", len(d.unlocks), d.exists)
				}
				return
			}
			if err != nil {
				t.Fatalf("unlock: %v\n%s", err, w.output())
			}
			if w.asked != len(tc.answers) {
				t.Errorf("asked %d time(s), want %d", w.asked, len(tc.answers))
			}
			if len(d.unlocks) != 1 || d.unlocks[0].GetCreate() != tc.wantCreate || string(d.unlocks[0].GetPassphrase()) != tc.answers[0] {
				t.Fatalf("unlock requests = %v, want one with create=%v", d.unlocks, tc.wantCreate)
			}
			if !strings.Contains(w.out.String(), tc.wantOut) {
				t.Errorf("stdout = %q, want %q", w.out.String(), tc.wantOut)
			}
			if strings.Contains(w.output(), tc.answers[0]) {
				t.Errorf("the passphrase is in the output:\n%s", w.output())
			}
		})
	}
}

// A passphrase file creates a vault too (automation), with the same length
// rule.
func TestUnlockFromAPassphraseFileCreatesOnlyALongEnoughVault(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	long := filepath.Join(dir, "long")
	os.WriteFile(short, []byte("short\n"), 0o600)
	os.WriteFile(long, []byte("correct horse\n"), 0o600)

	w := newVaultWorld(t, false, "")
	d := newFakeVaultDaemon(false)
	if err := unlockRun(context.Background(), &UnlockOptions{IO: w.f.IO, Daemon: connectTo(d), Prompter: w.f.Prompter(), Env: w.f.Env, PassphraseFile: short}); err == nil || len(d.unlocks) != 0 {
		t.Fatalf("unlock with a short passphrase file = %v, %d requests; want refused before the daemon", err, len(d.unlocks))
	}
	if err := unlockRun(context.Background(), &UnlockOptions{IO: w.f.IO, Daemon: connectTo(d), Prompter: w.f.Prompter(), Env: w.f.Env, PassphraseFile: long}); err != nil || !d.unlocks[0].GetCreate() {
		t.Fatalf("unlock with a good passphrase file = %v", err)
	}
}

// Issue 19: a passphrase file that group or others can write, or that
// another user owns, was accepted (only "readable by others" was checked).
// ssh's rule for private keys now applies, and no error quotes the file.
func TestPassphraseFileWritableByOthersOrOwnedByAnotherUserIsRefused(t *testing.T) {
	const content = "zebra-quartz-passphrase"
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	foreign := "/etc/passwd" // root's, when the tests do not run as root
	if os.Geteuid() == 0 {
		foreign = write("foreign", 0o600)
		if err := os.Chown(foreign, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, path, want string
	}{
		{"group-writable", write("gw", 0o620), "can be read or written by group or others"},
		{"world-writable", write("ow", 0o602), "can be read or written by group or others"},
		{"group-readable", write("gr", 0o640), "can be read or written by group or others"},
		{"another user's", foreign, "belongs to another user"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newVaultWorld(t, false, "")
			_, err := readPassphraseFrom(w.f.Prompter(), tc.path, "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("readPassphraseFrom(%s) = %v, want an error containing %q", tc.name, err, tc.want)
			}
			if strings.Contains(err.Error(), content) || strings.Contains(err.Error(), "root:") {
				t.Fatalf("the error quotes the file: %v", err)
			}
		})
	}
	w := newVaultWorld(t, false, "")
	if got, err := readPassphraseFrom(w.f.Prompter(), write("ok", 0o600), ""); err != nil || string(got) != content {
		t.Fatalf("a private file of ours = %q, %v", got, err)
	}
}

// Issue 19: on a fresh server over SSH, `hfbroker login` answered "locked:
// run 'hfbroker unlock'". On a terminal it now creates the vault (new
// passphrase, twice) or unlocks it inline, then stores the token.
func TestLoginOnATerminalOpensTheVaultInlineThenStoresTheToken(t *testing.T) {
	tok := fakeToken("L")
	tests := []struct {
		name       string
		exists     bool
		answers    []string
		wantCreate bool
		want       string
	}{
		{"an absent vault is created", false, []string{"correct horse", "correct horse", tok}, true, "Created a new vault at " + testVaultPath},
		{"a locked vault is unlocked", true, []string{"the vault passphrase", tok}, false, "it is locked"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newVaultWorld(t, true, "", tc.answers...)
			d := newFakeVaultDaemon(tc.exists)
			err := loginRun(context.Background(), &LoginOptions{IO: w.f.IO, Daemon: connectTo(d), Prompter: w.f.Prompter(), Endpoint: w.f.Endpoint, Config: w.f.Config, Env: w.f.Env})
			if err != nil {
				t.Fatalf("login: %v\n%s", err, w.output())
			}
			if len(d.unlocks) != 1 || d.unlocks[0].GetCreate() != tc.wantCreate {
				t.Fatalf("unlock requests = %v, want one with create=%v", d.unlocks, tc.wantCreate)
			}
			if len(d.stored) != 1 || d.stored[0] != tok {
				t.Fatal("the token was not stored")
			}
			if !strings.Contains(w.errOut.String(), tc.want) || !strings.Contains(w.out.String(), `Stored profile "laptop"`) {
				t.Errorf("output = %q", w.output())
			}
			if !tc.exists && !strings.Contains(w.errOut.String(), "No Secret Service on this machine (no D-Bus session)") {
				t.Errorf("login does not say why there is a vault: %q", w.errOut.String())
			}
			if strings.Contains(w.output(), tok) || strings.Contains(w.output(), tc.answers[0]) {
				t.Errorf("a secret is in the output:\n%s", w.output())
			}
		})
	}
}

// Piped, login never prompts: a locked vault stays an error (exit 4).
func TestLoginPipedIntoALockedVaultKeepsTheLockedError(t *testing.T) {
	tok := fakeToken("P")
	for _, exists := range []bool{false, true} {
		w := newVaultWorld(t, false, tok+"\n")
		d := newFakeVaultDaemon(exists)
		err := loginRun(context.Background(), &LoginOptions{IO: w.f.IO, Daemon: connectTo(d), Prompter: w.f.Prompter(), Endpoint: w.f.Endpoint, Config: w.f.Config, Env: w.f.Env})
		var buf bytes.Buffer
		code := reportError(&buf, NewRootCmd(w.f), err)
		if code != ExitDenied || !strings.Contains(buf.String(), "hfbroker: error: locked: run 'hfbroker unlock'") {
			t.Errorf("piped login into a locked vault (exists %v): exit %d, %q", exists, code, buf.String())
		}
		if len(d.unlocks) != 0 || w.asked != 0 || d.exists != exists {
			t.Errorf("piped login prompted or touched the vault")
		}
		if strings.Contains(w.output()+buf.String(), tok) {
			t.Error("the token is in the output")
		}
	}
}
