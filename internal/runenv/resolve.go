package runenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"unicode"
)

// Exit codes a shell uses for a command it could not run, which
// `hfbroker exec` reports the same way.
const (
	CodeNotExecutable = 126
	CodeNotFound      = 127
)

// CommandError is a command that cannot be run: not found (Code 127), or
// found but not executable, a directory, or only reachable through a relative
// PATH entry (Code 126). Its text is one line without the "hfbroker: error: "
// prefix, e.g. "command not found: pyhton".
type CommandError struct {
	Name string // the command as the user gave it
	Code int    // CodeNotFound or CodeNotExecutable
	Err  error  // exec.ErrNotFound, exec.ErrDot, fs.ErrPermission, syscall.EISDIR, …
}

func (e *CommandError) Error() string {
	name := quoteName(e.Name)
	switch {
	case errors.Is(e.Err, exec.ErrDot):
		return fmt.Sprintf("command %s is found only through a relative PATH entry; run it as ./%s or by its full path", name, e.Name)
	case e.Code == CodeNotFound:
		return "command not found: " + name
	case e.Err != nil:
		return fmt.Sprintf("cannot run %s: %s", name, causeText(e.Err))
	default:
		return "cannot run " + name
	}
}

// Unwrap returns the cause, for errors.Is(err, exec.ErrNotFound) and friends.
func (e *CommandError) Unwrap() error { return e.Err }

// ExitCode is the status hfbroker exits with: 126 or 127.
func (e *CommandError) ExitCode() int { return e.Code }

// causeText strips the path a *PathError carries; the caller already names
// the command, and one line should say it once.
func causeText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return err.Error()
}

// quoteName leaves ordinary names bare and quotes the rest, so a name with a
// newline or escape sequence cannot break the one-line error or the terminal.
func quoteName(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || r == ' ' || r == '"' {
			return strconv.Quote(s)
		}
	}
	return s
}

// Resolve finds name before any lease is asked for, searching the PATH of env
// (not hfbroker's own) with exec.LookPath's rules: a name containing a path
// separator is checked as given; PATH entries that are relative ("." or "")
// are refused with exec.ErrDot, as os/exec does since Go 1.19, because a
// leased token should not go to whatever ./python sits in the current
// directory. Failures are *CommandError with Code 127 (not found) or 126
// (found, but not an executable file).
func Resolve(name string, env []string) (string, error) {
	if name == "" {
		return "", &CommandError{Name: name, Code: CodeNotFound, Err: exec.ErrNotFound}
	}
	if strings.ContainsAny(name, pathSeparators) {
		if err := checkExecutable(name); err != nil {
			return "", commandError(name, err)
		}
		return name, nil
	}
	path, _ := lookup(env, "PATH")
	return searchPath(name, path, env)
}

// commandError classifies why name cannot run.
func commandError(name string, err error) *CommandError {
	var ce *CommandError
	if errors.As(err, &ce) {
		return ce
	}
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, exec.ErrNotFound) {
		return &CommandError{Name: name, Code: CodeNotFound, Err: err}
	}
	return &CommandError{Name: name, Code: CodeNotExecutable, Err: err}
}
