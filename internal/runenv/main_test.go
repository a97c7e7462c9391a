//go:build !windows

package runenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// helperEnv makes the test binary act as a tiny hfbroker: "exec" runs its
// arguments with Exec, "supervise" with Supervise, so the tests observe them
// from outside as a user's shell would.
const helperEnv = "RUNENV_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		// os/signal's delivery loop starts with the first Notify and lives
		// for the process; everything Supervise starts must be gone.
		goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("os/signal.signal_recv"))
	case "exec":
		os.Exit(helperExec(os.Args[1:]))
	case "supervise":
		os.Exit(helperSupervise(os.Args[1:]))
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv(helperEnv))
		os.Exit(2)
	}
}

// childEnv is the helper's environment without the helper's own switches.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RUNENV_TEST_") {
			env = append(env, kv)
		}
	}
	return env
}

func helperExec(args []string) int {
	path, err := Resolve(args[0], os.Environ())
	if err == nil {
		err = Exec(path, args, childEnv())
	}
	fmt.Fprintln(os.Stderr, "hfbroker: error:", err)
	var ce *CommandError
	if errors.As(err, &ce) {
		return ce.ExitCode()
	}
	return 1
}

func helperSupervise(args []string) int {
	path, err := Resolve(args[0], os.Environ())
	if err != nil {
		fmt.Fprintln(os.Stderr, "hfbroker: error:", err)
		return err.(*CommandError).ExitCode()
	}
	opts := SuperviseOptions{
		Path: path, Args: args, Env: childEnv(),
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		OnSignal: func(sig os.Signal, forwarded bool) {
			fmt.Fprintf(os.Stderr, "helper: signal %q forwarded=%v\n", sig.String(), forwarded)
		},
	}
	if d, err := time.ParseDuration(os.Getenv("RUNENV_TEST_KILL_GRACE")); err == nil {
		opts.KillGrace = d
	}
	var killedBy os.Signal
	opts.OnKilled = func(sig os.Signal) { killedBy = sig }
	code, err := Supervise(context.Background(), opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hfbroker: error:", err)
	}
	if killedBy != nil && os.Getenv("RUNENV_TEST_RERAISE") == "1" {
		Reraise(killedBy)
	}
	return code
}
