package cli

import "fmt"

// Prompter asks the person at the terminal for a secret (a passphrase, a
// token) without echoing it. Commands hold one instead of the terminal, as
// gh's commands hold a prompter, so that their run functions are tested with
// a fake (fakePrompter in run_test.go).
type Prompter interface {
	// IsTerminal reports whether stdin is a terminal: whether there is a
	// person to ask.
	IsTerminal() bool
	// Secret shows prompt on stderr and reads a line without echo.
	Secret(prompt string) ([]byte, error)
}

// terminalPrompter is the real Prompter: stdin's terminal, stderr for the
// prompt.
type terminalPrompter struct {
	io           *IOStreams
	readPassword func(fd int) ([]byte, error)
}

func (p terminalPrompter) IsTerminal() bool { return p.io.IsTerminal() }

func (p terminalPrompter) Secret(prompt string) ([]byte, error) {
	fmt.Fprint(p.io.ErrOut, prompt)
	b, err := p.readPassword(p.io.InFd)
	fmt.Fprintln(p.io.ErrOut)
	return b, err
}
