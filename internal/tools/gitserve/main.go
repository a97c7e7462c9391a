// Command gitserve is a Hub for scripts/bench-startup's `git ls-remote`
// rows, as cmd/hfbroker's BenchmarkGitLsRemote builds it: one origin serving
// the fake Hub's API (internal/hubtest: user alice, org acme, private model
// acme/llm) and git's smart HTTP (internal/gittest: git http-backend behind
// Basic auth, deciding with the Hub's rules). It writes a write token of
// alice's to -token-file and host:port to -addr-file, then serves until
// killed.
package main

import (
	"flag"
	"log"
	"os"
	"strings"
	"testing"

	"github.com/hfbroker/hfbroker/internal/gittest"
)

func main() {
	tokenFile := flag.String("token-file", "", "file to write the token to")
	addrFile := flag.String("addr-file", "", "file to write host:port to once serving")
	flag.Parse()
	tb := &processTB{}
	defer tb.cleanup()
	endpoint, token := gittest.HubOrigin(tb)
	if err := os.WriteFile(*tokenFile, []byte(token+"\n"), 0o600); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*addrFile, []byte(strings.TrimPrefix(endpoint, "http://")), 0o600); err != nil {
		log.Fatal(err)
	}
	select {}
}

// processTB is the part of testing.TB that gittest uses, for a process
// rather than a test.
type processTB struct {
	testing.TB
	cleanups []func()
	dirs     []string
}

func (t *processTB) Helper()          {}
func (t *processTB) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }
func (t *processTB) Logf(format string, args ...any) {
	log.Printf(format, args...)
}
func (t *processTB) Errorf(format string, args ...any) { log.Printf(format, args...) }
func (t *processTB) Fatalf(format string, args ...any) { log.Fatalf(format, args...) }
func (t *processTB) Fatal(args ...any)                 { log.Fatal(args...) }
func (t *processTB) TempDir() string {
	d, err := os.MkdirTemp("", "gitserve")
	if err != nil {
		log.Fatal(err)
	}
	t.dirs = append(t.dirs, d)
	return d
}

func (t *processTB) cleanup() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	for _, d := range t.dirs {
		os.RemoveAll(d)
	}
}
