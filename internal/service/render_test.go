package service

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hfbroker/hfbroker/internal/socket"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run 'go test ./internal/service -update' to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the rendered file (run with -update if the change is intended)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

func TestSystemdUnitMatchesGolden(t *testing.T) {
	got, err := SystemdUnit("/home/alice/go/bin/hfbrokerd")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "hfbrokerd.service.golden", got)
}

func TestLaunchdPlistMatchesGolden(t *testing.T) {
	got, err := LaunchdPlist("/opt/homebrew/bin/hfbrokerd", "/Users/alice")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "com.hfbroker.hfbrokerd.plist.golden", got)
}

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

func TestTemplateEngine(t *testing.T) {
	data := map[string]any{
		"A":     "x y",
		"Empty": "",
		"List":  []string{"1", "2"},
		"None":  []string(nil),
	}
	tests := []struct {
		name, src, want string
		wantErr         bool
	}{
		{name: "plain text passes through", src: "a } b {", want: "a } b {"},
		{name: "a key is substituted", src: "<{{A}}>", want: "<x y>"},
		{name: "functions apply left to right", src: "{{A | cmdEscape | cmd}}", want: `"x\x20y"`},
		{name: "if takes the body for a non-empty value", src: "{{if A}}yes{{else}}no{{end}}", want: "yes"},
		{name: "if takes the else branch for an empty value", src: "{{if Empty}}yes{{else}}no{{end}}", want: "no"},
		{name: "an empty list is false", src: "{{if None}}yes{{end}}.", want: "."},
		{name: "range binds dot to each item", src: "{{range List}}[{{. | cmd}}]{{end}}", want: `["1"]["2"]`},
		{name: "trim markers eat whitespace on their side", src: "a \n {{- A -}} \n b", want: "ax yb"},
		{name: "an unknown key is an error", src: "{{Name}}", wantErr: true},
		{name: "an unknown function is an error", src: "{{A | upper}}", wantErr: true},
		{name: "ranging over a string is an error", src: "{{range A}}{{end}}", wantErr: true},
		{name: "a stray end is an error", src: "x{{end}}", wantErr: true},
		{name: "an unclosed action is an error", src: "x{{A", wantErr: true},
		{name: "if without a key is an error", src: "{{if}}x{{end}}", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := renderTemplate(tc.src, data, systemdFuncs)
			if tc.wantErr {
				if !errors.Is(err, errTemplate) {
					t.Fatalf("got %q, %v; want an errTemplate error", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func FuzzTemplate(f *testing.F) {
	f.Add(systemdUnit)
	f.Add(launchdPlist)
	f.Add("{{if A}}{{range L}}{{.}}{{end}}{{else}}-{{end}}")
	f.Fuzz(func(t *testing.T, src string) {
		data := map[string]any{"A": "a", "L": []string{"x"}}
		got, err := renderTemplate(src, data, systemdFuncs)
		if err != nil {
			return
		}
		if !strings.Contains(src, "{{") && got != src {
			t.Fatalf("text without actions changed: %q -> %q", src, got)
		}
	})
}
