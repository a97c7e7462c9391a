package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	rpccode "google.golang.org/genproto/googleapis/rpc/code"

	"github.com/hfbroker/hfbroker/internal/lane"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// fakePrompter is a terminal (or none) whose person types answers in turn,
// and which records the prompts it was asked with.
type fakePrompter struct {
	terminal bool
	answers  []string
	prompts  []string
}

func (p *fakePrompter) IsTerminal() bool { return p.terminal }

func (p *fakePrompter) Secret(prompt string) ([]byte, error) {
	p.prompts = append(p.prompts, prompt)
	if len(p.prompts) > len(p.answers) {
		return nil, errors.New("the test typed nothing more")
	}
	return []byte(p.answers[len(p.prompts)-1]), nil
}

// noEnv is an environment with nothing set.
func noEnv(string) string { return "" }

// A wrong passphrase typed at the prompt is a refusal: exit 4 with the
// daemon's hint, and the passphrase is in no output and no error.
func TestUnlockRunWithAWrongPassphraseExits4AndNeverShowsIt(t *testing.T) {
	const typed = "not-the-vault-passphrase-Zq7"
	io, out, errOut := testIO()
	d := newFakeVaultDaemon(true)
	p := &fakePrompter{terminal: true, answers: []string{typed}}
	err := unlockRun(context.Background(), &UnlockOptions{IO: io, Daemon: connectTo(d), Prompter: p, Env: noEnv})
	if err == nil {
		t.Fatal("a wrong passphrase unlocked the vault")
	}
	if code := reportError(errOut, newCmdUnlock(&Factory{IO: io}, nil), err); code != ExitDenied {
		t.Errorf("exit %d, want %d", code, ExitDenied)
	}
	if len(p.prompts) != 1 || p.prompts[0] != "Vault passphrase: " {
		t.Errorf("prompts = %q, want the vault passphrase once", p.prompts)
	}
	if len(d.unlocks) != 1 || string(d.unlocks[0].GetPassphrase()) != typed || d.unlocks[0].GetCreate() {
		t.Errorf("the daemon was asked %v", d.unlocks)
	}
	if !strings.Contains(errOut.String(), "hfbroker: error: wrong passphrase") || !strings.Contains(errOut.String(), "hfbroker: hint: try again") {
		t.Errorf("stderr = %q", errOut)
	}
	if out.Len() != 0 {
		t.Errorf("stdout = %q, want nothing", out)
	}
	assertNoToken(t, typed, out.String(), errOut.String(), err.Error())
}

// With no terminal and no passphrase file, unlock says how to give the
// passphrase (exit 2) and neither prompts nor asks the daemon to unlock.
func TestUnlockRunWithoutATerminalOrAFileAsksNothing(t *testing.T) {
	io, _, errOut := testIO()
	d := newFakeVaultDaemon(true)
	p := &fakePrompter{terminal: false}
	err := unlockRun(context.Background(), &UnlockOptions{IO: io, Daemon: connectTo(d), Prompter: p, Env: noEnv})
	if code := reportError(errOut, newCmdUnlock(&Factory{IO: io}, nil), err); code != ExitUsage {
		t.Errorf("exit %d, want %d", code, ExitUsage)
	}
	if !strings.Contains(errOut.String(), "HFBROKER_PASSPHRASE_FILE") {
		t.Errorf("stderr %q names no way to give the passphrase", errOut)
	}
	if len(p.prompts) != 0 || len(d.unlocks) != 0 {
		t.Errorf("prompted %q, unlocked %v", p.prompts, d.unlocks)
	}
}

// HFBROKER_PASSPHRASE_FILE, read through the options' Env, gives the
// passphrase without a prompt; the passphrase is not printed.
func TestUnlockRunReadsHFBROKER_PASSPHRASE_FILE(t *testing.T) {
	io, out, errOut := testIO()
	d := newFakeVaultDaemon(true)
	file := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(file, []byte(d.pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &fakePrompter{terminal: true}
	env := func(k string) string {
		if k == "HFBROKER_PASSPHRASE_FILE" {
			return file
		}
		return ""
	}
	if err := unlockRun(context.Background(), &UnlockOptions{IO: io, Daemon: connectTo(d), Prompter: p, Env: env}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "Unlocked\n" || len(p.prompts) != 0 {
		t.Errorf("stdout = %q, prompts = %q", out, p.prompts)
	}
	if len(d.unlocks) != 1 || !bytes.Equal(d.unlocks[0].GetPassphrase(), []byte(d.pass)) {
		t.Errorf("the daemon was asked %v", d.unlocks)
	}
	assertNoToken(t, d.pass, out.String(), errOut.String())
}

// passwdDaemon answers ChangePassphrase as the daemon does and keeps what it
// was asked.
type passwdDaemon struct {
	fakeDaemon
	pass    string
	changes []string // the new passphrases it was given
}

func (d *passwdDaemon) ChangePassphrase(_ context.Context, r *pb.ChangePassphraseRequest) (*pb.ChangePassphraseResponse, error) {
	if string(r.GetOldPassphrase()) != d.pass {
		return nil, &lane.Error{Code: rpccode.Code_PERMISSION_DENIED, Message: "wrong passphrase",
			Detail: &pb.ErrorDetail{Kind: pb.ErrorDetail_KIND_ACCESS_DENIED}}
	}
	d.changes = append(d.changes, string(r.GetNewPassphrase()))
	return &pb.ChangePassphraseResponse{}, nil
}

// passwd asks for the current passphrase, then the new one twice; a new one
// typed differently the second time changes nothing and never reaches the
// daemon; a wrong current one exits 4. No passphrase is ever shown.
func TestPasswdRunAsksTheNewPassphraseTwice(t *testing.T) {
	const cur, next = "the current passphrase", "the next passphrase"
	for _, tc := range []struct {
		name    string
		typed   []string
		code    int
		changed []string
	}{
		{"the same new passphrase twice", []string{cur, next, next}, ExitOK, []string{next}},
		{"a different second entry", []string{cur, next, next + "!"}, ExitError, nil},
		{"a wrong current passphrase", []string{"a wrong passphrase", next, next}, ExitDenied, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			io, out, errOut := testIO()
			d := &passwdDaemon{pass: cur}
			p := &fakePrompter{terminal: true, answers: tc.typed}
			err := passwdRun(context.Background(), &PasswdOptions{IO: io, Daemon: connectTo(d), Prompter: p, Env: noEnv})
			code := ExitOK
			if err != nil {
				code = reportError(errOut, newCmdPasswd(&Factory{IO: io}, nil), err)
			}
			if code != tc.code || !slices.Equal(d.changes, tc.changed) {
				t.Errorf("exit %d, changed to %q; want exit %d, %q (stderr %q)", code, d.changes, tc.code, tc.changed, errOut)
			}
			want := []string{"Current passphrase: ", "New passphrase: ", "Repeat the new passphrase: "}
			if !slices.Equal(p.prompts, want) {
				t.Errorf("prompts = %q, want %q", p.prompts, want)
			}
			for _, typed := range tc.typed {
				assertNoToken(t, typed, out.String(), errOut.String())
			}
		})
	}
}
