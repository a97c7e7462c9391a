package service

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/hfbroker/hfbroker/internal/socket"
)

func TestUnitsAreWrittenForAUserServiceThatRestartsOnFailure(t *testing.T) {
	unit, err := SystemdUnit("/usr/bin/hfbrokerd")
	if err != nil {
		t.Fatal(err)
	}
	plist, err := LaunchdPlist("/usr/local/bin/hfbrokerd", "/Users/alice")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, file, want string
	}{
		{"the unit starts with the user manager, not multi-user.target", string(unit), "\nWantedBy=default.target\n"},
		{"the unit restarts only on failure", string(unit), "\nRestart=on-failure\n"},
		{"the unit runs the daemon in the foreground", string(unit), "\nExecStart=/usr/bin/hfbrokerd \"run\"\n"},
		{"the agent starts at login", string(plist), "<key>RunAtLoad</key>\n\t<true/>"},
		{"the agent is relaunched only after a failed exit", string(plist), "<key>KeepAlive</key>\n\t<dict>\n\t\t<key>SuccessfulExit</key>\n\t\t<false/>"},
		{"the agent is labelled like the packaged plist", string(plist), "<key>Label</key>\n\t<string>com.hfbroker.hfbrokerd</string>"},
		{"the agent logs under ~/Library/Logs/hfbroker", string(plist), "<string>/Users/alice/Library/Logs/hfbroker/com.hfbroker.hfbrokerd.err.log</string>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(tc.file, tc.want) {
				t.Errorf("missing %q in\n%s", tc.want, tc.file)
			}
		})
	}
	for _, bad := range []string{"multi-user.target", "RestartSec=120", "EnvironmentFile", "Restart=always"} {
		if strings.Contains(string(unit), bad) {
			t.Errorf("unit contains kardianos default %q:\n%s", bad, unit)
		}
	}
}

func TestPathsWithSpecialCharactersAreEscaped(t *testing.T) {
	unit, err := SystemdUnit("/opt/hf broker/hfbrokerd")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), `ExecStart=/opt/hf\x20broker/hfbrokerd "run"`) {
		t.Errorf("space not escaped for systemd:\n%s", unit)
	}
	plist, err := LaunchdPlist("/Apps/A&B <x>/hfbrokerd", "/Users/al'ice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(plist), "<string>/Apps/A&amp;B &lt;x&gt;/hfbrokerd</string>") ||
		!strings.Contains(string(plist), "/Users/al&#39;ice/Library/Logs/") {
		t.Errorf("XML specials not escaped:\n%s", plist)
	}
}

// withoutComments drops the comment lines packaging adds for readers.
func withoutComments(b []byte, prefix string) string {
	var out []string
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

// TestPathsWithTemplateActionsAreRefused: kardianos reads the file it is
// handed as a template, so a "{{" in the path would change what it writes.
func TestPathsWithTemplateActionsAreRefused(t *testing.T) {
	if _, err := SystemdUnit("/opt/{{Name}}/hfbrokerd"); err == nil {
		t.Error("SystemdUnit accepted a path with {{")
	}
	if _, err := LaunchdPlist("/opt/{{Name}}/hfbrokerd", "/Users/alice"); err == nil {
		t.Error("LaunchdPlist accepted a path with {{")
	}
}

// TestPackagedSystemdUnitIsTheRenderedUnit: 'hfbrokerd install' writes
// packaging's unit (embedded), comments aside; only the binary's path
// differs.
func TestPackagedSystemdUnitIsTheRenderedUnit(t *testing.T) {
	packaged, err := os.ReadFile("../../packaging/systemd/hfbrokerd.service")
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := SystemdUnit("/usr/bin/hfbrokerd")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"Restart=on-failure", "WantedBy=default.target", `ExecStart=/usr/bin/hfbrokerd "run"`} {
		if !bytes.Contains(packaged, []byte("\n"+line+"\n")) {
			t.Errorf("packaged unit lacks %q", line)
		}
	}
	if !bytes.HasSuffix(packaged, rendered) {
		t.Error("packaged unit does not end with the rendered unit, comments included")
	}
	if got, want := withoutComments(packaged, "#"), withoutComments(rendered, "#"); got != want {
		t.Errorf("packaging/systemd/hfbrokerd.service (comments aside) differs from what 'hfbrokerd install' writes for /usr/bin/hfbrokerd\n--- packaged ---\n%s\n--- rendered ---\n%s", got, rendered)
	}
}

func TestPackagedSocketUnitListensWhereTheDaemonDoes(t *testing.T) {
	b, err := os.ReadFile("../../packaging/systemd/hfbrokerd.socket")
	if err != nil {
		t.Fatal(err)
	}
	// %t is $XDG_RUNTIME_DIR in a user unit: socket.DefaultPath's first choice.
	for _, line := range []string{
		"ListenStream=%t/hfbroker/" + socket.SocketName,
		"SocketMode=0600",
		"DirectoryMode=0700",
		"WantedBy=sockets.target",
	} {
		if !bytes.Contains(b, []byte("\n"+line+"\n")) {
			t.Errorf("socket unit lacks %q:\n%s", line, b)
		}
	}
	// The service must also start without the socket unit, so it must not
	// require it.
	unit, err := os.ReadFile("../../packaging/systemd/hfbrokerd.service")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(unit, []byte("Requires=hfbrokerd.socket")) || bytes.Contains(unit, []byte("BindsTo=")) {
		t.Error("hfbrokerd.service must work without hfbrokerd.socket")
	}
}

func TestPackagedPlistIsTheRenderedAgentWithoutPerUserLogs(t *testing.T) {
	packaged, err := os.ReadFile("../../packaging/launchd/com.hfbroker.hfbrokerd.plist")
	if err != nil {
		t.Fatal(err)
	}
	// The packaged plist is a template: the prefix is where hfbrokerd was
	// installed (Homebrew's is /opt/homebrew on Apple Silicon), never a
	// hardcoded /usr/local/bin.
	if bytes.Contains(packaged, []byte("/usr/local/bin")) {
		t.Error("packaged plist hardcodes /usr/local/bin; it must take the install prefix (@PREFIX@)")
	}
	if !bytes.Contains(packaged, []byte("<string>@PREFIX@/bin/hfbrokerd</string>")) {
		t.Error("packaged plist does not run @PREFIX@/bin/hfbrokerd")
	}
	// Filled in as Homebrew on Apple Silicon would, it is what 'hfbrokerd
	// install' writes for a binary there.
	packaged = bytes.ReplaceAll(packaged, []byte("@PREFIX@"), []byte("/opt/homebrew"))
	rendered, err := LaunchdPlist("/opt/homebrew/bin/hfbrokerd", "/Users/alice")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(rendered, []byte("{{")) {
		t.Errorf("the rendered agent holds a template action:\n%s", rendered)
	}
	// A plist installed for every user cannot name a per-user log path, so
	// the packaged one leaves out the two log keys and their values.
	var want []string
	skip := 0
	for _, l := range strings.SplitAfter(string(rendered), "\n") {
		switch {
		case skip > 0:
			skip--
		case strings.Contains(l, "<key>StandardOutPath</key>"), strings.Contains(l, "<key>StandardErrorPath</key>"):
			skip = 1
		default:
			want = append(want, l)
		}
	}
	if got := withoutComments(packaged, "<!--"); got != strings.Join(want, "") {
		t.Errorf("packaged plist (comments aside) differs from the rendered agent without log paths\n--- packaged ---\n%s\n--- want ---\n%s", got, strings.Join(want, ""))
	}
}
