//go:build !unix

package main

import "time"

// selfCPU is unknown here (loadgen measures on Linux).
func selfCPU() time.Duration { return 0 }
