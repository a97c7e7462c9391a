//go:build !unix

package main

import "os"

func statPath(p string) { os.Stat(p) }
