//go:build !windows

package runenv

// foldKey is the identity: Unix environment names are case-sensitive.
func foldKey(k string) string { return k }
