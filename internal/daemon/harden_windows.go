package daemon

func harden() error { return nil }
