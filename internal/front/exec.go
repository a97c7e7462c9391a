//go:build unix

package front

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hfbroker/hfbroker/internal/runenv"
)

// exec is `hfbroker exec [choice] [--ttl D | --until-exit] [--proxy [--no-public]] [--] [CMD ARGS...]`,
// without --mask (which supervises the command: the full CLI's).
func (f *frontCall) exec(args []string) (int, error) {
	var ch choice
	cmdArgs, err := ch.parse(args, true, false)
	if err != nil {
		return 0, errFallback
	}
	environ := os.Environ()
	if _, nested := runenv.Nested(environ); nested {
		return 0, errFallback
	}
	if len(cmdArgs) == 0 {
		shell := os.Getenv("SHELL")
		if shell == "" {
			shell = "/bin/sh"
		}
		cmdArgs = []string{shell}
	}
	path, err := runenv.Resolve(cmdArgs[0], environ)
	if err != nil {
		return 0, errFallback
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
		"HF_TOKEN":         resp.token,
		"HFBROKER_PROFILE": resp.profile,
		"HFBROKER_LEASE":   resp.leaseID,
	}
	if resp.proxyEndpoint != "" {
		set["HF_ENDPOINT"] = resp.proxyEndpoint
	} else if ch.proxy {
		return 0, errFallback // an old daemon: the full CLI says so
	}
	if resp.shortenedToToken {
		fmt.Fprintln(f.stderr, shortenedNote(resp))
	}
	if resp.follow == "process" {
		fmt.Fprintf(f.stderr, "hfbroker: warning: background processes of %s lose access when it exits (this system cannot follow a process tree)\n", cmdArgs[0])
	}
	err = runenv.Exec(path, cmdArgs, runenv.Build(environ, set))
	// Exec returns only when the exec itself failed.
	var ce *runenv.CommandError
	if errors.As(err, &ce) {
		fmt.Fprintf(f.stderr, "hfbroker: error: %s\n", oneLine(ce.Error()))
		return ce.ExitCode(), nil
	}
	fmt.Fprintf(f.stderr, "hfbroker: error: %s\n", oneLine(fmt.Sprintf("exec %s: %v", cmdArgs[0], err)))
	return 1, nil
}
