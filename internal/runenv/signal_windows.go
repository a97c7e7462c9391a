//go:build windows

package runenv

import "os"

// watchedSignals: os.Interrupt stands for the console's Ctrl+C and
// Ctrl+Break, which the console delivers to every process attached to it,
// the child included. hfbroker catches them only so that they do not kill it
// while the child shuts down in its own time (aws-vault#420).
var watchedSignals = []os.Signal{os.Interrupt}

func shouldForward(os.Signal) bool { return false }

// caught: Windows has no ignored-at-start dispositions to keep.
func caught() []os.Signal { return watchedSignals }

func isTerminate(os.Signal) bool { return false }

// terminate has no gentler form on Windows for an arbitrary process.
func terminate(p *os.Process) error { return p.Kill() }

func exitStatus(ps *os.ProcessState) int { return ps.ExitCode() }

// killedBy: Windows has no death by signal.
func killedBy(*os.ProcessState) (os.Signal, bool) { return nil, false }

// Reraise does nothing on Windows: exit with the child's code.
func Reraise(os.Signal) {}
