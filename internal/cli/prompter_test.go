package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
