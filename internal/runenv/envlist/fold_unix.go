//go:build !windows

package envlist

// foldKey is the identity: Unix environment names are case-sensitive.
func foldKey(k string) string { return k }
