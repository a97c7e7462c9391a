package daemon

// lockState is unix only: on Windows the single-instance lock is the
// socket's own.
func lockState(stateDir, socketPath string) (func(), error) { return func() {}, nil }
