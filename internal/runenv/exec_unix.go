//go:build !windows

package runenv

import "syscall"

// Exec replaces hfbroker with the command: on success it does not return,
// and the child keeps hfbroker's pid, its terminal and process group, every
// signal sent to it, and its own exit status, with no parent left to relay
// them (aws-vault moved to this for stuck Ctrl-C, 99designs/aws-vault#453).
// argv includes argv[0]; when empty, argv is just path. env is the complete
// environment (see Build); nil means empty.
//
// Deferred functions do not run and buffered output is not flushed, so call
// Exec last. Signals the caller ignored (signal.Ignore) stay ignored in the
// child, as execve keeps SIG_IGN; caught ones are reset to their default.
// Failures are *CommandError with Code 126 or 127.
func Exec(path string, argv []string, env []string) error {
	if len(argv) == 0 {
		argv = []string{path}
	}
	if env == nil {
		env = []string{}
	}
	err := syscall.Exec(path, argv, env)
	return commandError(argv[0], err)
}
