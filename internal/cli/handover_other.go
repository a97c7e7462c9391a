//go:build !unix

package cli

import "github.com/hfbroker/hfbroker/internal/lane"

// takeHandover: the front end, and so its handover, is unix-only.
func takeHandover() *lane.Handover { return nil }
