//go:build unix

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
	extraCmds["no-dbus"] = cmdNoDbus
}

// no-dbus makes the rest of the script a machine without D-Bus, as a fresh
// GPU server reached over SSH is: no DBUS_SESSION_BUS_ADDRESS, and no
// dbus-launch on PATH for godbus to start a bus with. It fails when
// /run/user/UID/bus exists: godbus would find that bus by itself, and the
// story would not be about a machine without one.
func cmdNoDbus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: no-dbus")
	}
	ts.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	var keep []string
	for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(dir, "dbus-launch")); err == nil {
			continue
		}
		keep = append(keep, dir)
	}
	ts.Setenv("PATH", strings.Join(keep, string(os.PathListSeparator)))
	if bus := fmt.Sprintf("/run/user/%d/bus", os.Getuid()); fileExists(bus) {
		ts.Fatalf("%s exists: this machine runs a D-Bus session, so it cannot play one without", bus)
	}
}
