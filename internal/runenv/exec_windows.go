//go:build windows

package runenv

import (
	"context"
	"errors"
	"os"
)

// Exec on Windows, which has no execve, runs the command under Supervise
// with hfbroker's standard streams and then exits with the child's code, so
// that, as on Unix, a successful Exec does not return. Console Ctrl+C reaches
// the child directly and is ignored by hfbroker meanwhile, so the child can
// shut down gracefully (aws-vault#420). Failures to start are *CommandError.
func Exec(path string, argv []string, env []string) error {
	code, err := Supervise(context.Background(), SuperviseOptions{
		Path:   path,
		Args:   argv,
		Env:    env,
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
	})
	var ce *CommandError
	if errors.As(err, &ce) || code < 0 {
		return err // the child never ran; nothing to exit with yet
	}
	os.Exit(code)
	return nil
}
