// Package packaging holds the service files the hfbroker packages install,
// embedded so that 'hfbrokerd install' writes the same units from the same
// source (issue 13 item 6).
package packaging

import _ "embed"

// SystemdUnit is systemd/hfbrokerd.service, for /usr/lib/systemd/user.
//
//go:embed systemd/hfbrokerd.service
var SystemdUnit string

// SystemdSocket is systemd/hfbrokerd.socket.
//
//go:embed systemd/hfbrokerd.socket
var SystemdSocket string

// LaunchdPlist is launchd/com.hfbroker.hfbrokerd.plist, for
// /Library/LaunchAgents.
//
//go:embed launchd/com.hfbroker.hfbrokerd.plist
var LaunchdPlist string
