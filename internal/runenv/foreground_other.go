//go:build unix && !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package runenv

// inForeground cannot ask the terminal here; assume no terminal delivered the
// signal, so SIGINT and SIGQUIT are passed on.
func inForeground() bool { return false }
