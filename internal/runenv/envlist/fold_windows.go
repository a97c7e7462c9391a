//go:build windows

package envlist

import "strings"

// foldKey upper-cases: Windows environment names are case-insensitive, so
// "hf_token" would shadow the HF_TOKEN set for the child.
func foldKey(k string) string { return strings.ToUpper(k) }
