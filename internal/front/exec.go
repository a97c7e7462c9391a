//go:build unix

package front

import (
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hfbroker/hfbroker/internal/runenv/envlist"
)

// exec is `hfbroker exec [choice] [--ttl D | --until-exit] [--proxy [--no-public]] [--] [CMD ARGS...]`,
// without --mask (which supervises the command: the full CLI's).
func (f *frontCall) exec(args []string) (int, error) {
	var ch choice
	cmdArgs, err := ch.parse(args, true, false)
	if err != nil {
		return 0, errFallback
	}
	environ := syscall.Environ()
	if _, nested := envlist.Nested(environ); nested {
		return 0, errFallback
	}
	if len(cmdArgs) == 0 {
		shell := getenv("SHELL")
		if shell == "" {
			shell = "/bin/sh"
		}
		cmdArgs = []string{shell}
	}
	path, ok := lookPath(cmdArgs[0], environ)
	if !ok {
		return 0, errFallback // runenv.Resolve's error: the full CLI's to say
	}
	if ch.noPublic && !ch.proxy {
		return 0, errFallback
	}
	purpose := purposeExec
	if ch.proxy {
		purpose = purposeProxy
	}
	req, err := ch.leaseRequest(purpose)
	if err != nil {
		return 0, err
	}
	resp, err := lease(req, time.Time{})
	if err != nil {
		return 0, err
	}
	set := map[string]string{
		envlist.EnvToken:   resp.token,
		envlist.EnvProfile: resp.profile,
		envlist.EnvLease:   resp.leaseID,
	}
	if resp.proxyEndpoint != "" {
		set[envlist.EnvEndpoint] = resp.proxyEndpoint
	} else if ch.proxy {
		return 0, errFallback // an old daemon: the full CLI says so
	} else if ep, ok := envlist.EndpointToSet(environ, resp.endpoint); ok {
		set[envlist.EnvEndpoint] = ep
	}
	if resp.shortenedToToken {
		emit(f.stderr, shortenedNote(resp), "\n")
	}
	if resp.follow == "process" {
		emit(f.stderr, "hfbroker: warning: background processes of ", cmdArgs[0], " lose access when it exits (this system cannot follow a process tree)\n")
	}
	err = syscall.Exec(path, cmdArgs, envlist.Build(environ, set))
	// Exec returns only when the exec itself failed: runenv.Exec's error.
	code, msg := execError(cmdArgs[0], err)
	emit(f.stderr, "hfbroker: error: ", oneLine(msg), "\n")
	return code, nil
}

// execError is runenv.Exec's error for a failed execve of name: its exit
// code and text.
func execError(name string, err error) (int, string) {
	if err == syscall.ENOENT {
		return codeNotFound, "command not found: " + quoteName(name)
	}
	return codeNotExecutable, "cannot run " + quoteName(name) + ": " + err.Error()
}

// runenv.CodeNotExecutable and CodeNotFound.
const (
	codeNotExecutable = 126
	codeNotFound      = 127
)

// lookPath is runenv.Resolve when it finds name: the command named by a
// path, or found in an absolute entry of PATH, a regular file we may
// execute. Any other answer (not found, not executable, found through a
// relative entry) is runenv's to word.
func lookPath(name string, env []string) (string, bool) {
	if name == "" {
		return "", false
	}
	if strings.Contains(name, "/") {
		return name, executableFile(name)
	}
	dirs, _ := envlist.Lookup(env, "PATH")
	for _, dir := range strings.Split(dirs, ":") {
		if dir == "" {
			dir = "."
		}
		cand := path.Join(dir, name)
		var st syscall.Stat_t
		if syscall.Stat(cand, &st) != nil {
			continue // not there: runenv looks on
		}
		if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
			continue // runenv looks on past a directory too
		}
		if !executableFile(cand) || !isAbs(cand) {
			return "", false
		}
		return cand, true
	}
	return "", false
}

// executableFile is runenv's checkExecutable passing.
func executableFile(p string) bool {
	var st syscall.Stat_t
	if syscall.Stat(p, &st) != nil {
		return false
	}
	return st.Mode&syscall.S_IFMT == syscall.S_IFREG && st.Mode&0o111 != 0 && syscall.Access(p, 1 /* X_OK */) == nil
}

// quoteName is runenv's: a command as one line quotes it.
func quoteName(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if !strconv.IsPrint(r) || r == ' ' || r == '"' {
			return strconv.Quote(s)
		}
	}
	return s
}
