package daemon

// fdLimit is unknown on Windows, which has no descriptor limit of that kind.
func fdLimit() uint64 { return 0 }
