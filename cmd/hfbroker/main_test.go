//go:build unix

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/zalando/go-keyring"

	"github.com/hfbroker/hfbroker/internal/buildinfo"
	"github.com/hfbroker/hfbroker/internal/cli"
	"github.com/hfbroker/hfbroker/internal/daemon"
	"github.com/hfbroker/hfbroker/internal/front"
	"github.com/hfbroker/hfbroker/internal/fullcli"
	"github.com/hfbroker/hfbroker/internal/hubtest"
	"github.com/hfbroker/hfbroker/internal/peercred"
)

// The script tests run the real binaries: hfbroker, the hfbrokerd it
// autostarts, and git, as separate processes on a real unix socket, against
// the fake Hub. Each script is a story a user would tell; see testdata/script.
//
// `hfbroker` is the real front end (internal/front), which executes the
// real full CLI, hfbroker-cli, beside it for everything it does not answer
// itself (issue 16), so every story runs through the split. The front hands
// over with its own argv (argv[0] "hfbroker"), so the full CLI is recognised
// here by its executable's name, as testscript's copy of this binary named
// hfbroker-cli.
func TestMain(m *testing.M) {
	if exe, err := os.Executable(); err == nil && filepath.Base(exe) == fullcli.Name {
		fullCLIMain()
	}
	testscript.Main(m, map[string]func(){
		"hfbroker":                func() { os.Exit(front.Main(os.Args)) },
		"git-credential-hfbroker": func() { os.Exit(front.Main(os.Args)) },
		fullcli.Name:              fullCLIMain,
		"hfbrokerd": func() {
			stampVersion("HFB_TEST_DAEMON_VERSION")
			os.Exit(daemon.Main(os.Args[1:], os.Stdout, os.Stderr))
		},
		"hfb-rawclient": rawClientMain,
		"hfb-squat":     squatMain,
	})
}

// fullCLIMain is cmd/hfbroker-cli's main.
func fullCLIMain() {
	stampVersion("HFB_TEST_CLI_VERSION")
	os.Exit(cli.Main(cli.Args(os.Args), os.Stdin, os.Stdout, os.Stderr))
}

// stampVersion plays a release build's -ldflags -X buildinfo.Version: the
// scripts stamp the CLI and the daemon apart to show an upgrade.
func stampVersion(envVar string) {
	buildinfo.Version = os.Getenv(envVar)
}

// secretService reports whether the real Secret Service is reachable, and
// fails the test when CI demands it and it is not.
func secretService(t *testing.T) bool {
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return true
	}
	if os.Getenv("HFBROKER_TEST_SECRET_SERVICE") == "1" {
		t.Fatal("HFBROKER_TEST_SECRET_SERVICE=1 but no D-Bus session: run the tests under scripts/with-secret-service")
	}
	return false
}

func TestScripts(t *testing.T) {
	haveSS := secretService(t)
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		// HFBROKER_UPDATE_GOLDEN=1 rewrites the want files that `cmp` compares
		// against inside the scripts, after a deliberate change of output.
		UpdateScripts: os.Getenv("HFBROKER_UPDATE_GOLDEN") == "1",
		Setup: func(env *testscript.Env) error {
			return setupWorld(t, env, haveSS)
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "secretservice":
				return haveSS, nil
			case "root":
				return os.Getuid() == 0, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: scriptCmds(map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"no-secret-in":   cmdNoSecretIn,
			"keychain-has":   cmdKeychainHas,
			"kill-daemon":    cmdKillDaemon,
			"wait-no-daemon": cmdWaitNoDaemon,
			"daemon-pid":     cmdDaemonPid,
			"env-file":       cmdEnvFile,
		}),
	})
}

// extraCmds lets other test files add script commands from init functions,
// so that several of them can grow the script language side by side.
var extraCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){}

func scriptCmds(base map[string]func(ts *testscript.TestScript, neg bool, args []string)) map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	for k, v := range extraCmds {
		base[k] = v
	}
	return base
}

// scriptHub returns the script's fake Hub, for commands that configure it.
func scriptHub(ts *testscript.TestScript) *hubtest.Hub {
	return ts.Value(hubKey{}).(*hubtest.Hub)
}

// setupWorld gives each script its own fake Hub with a standard cast, a
// private HOME, a short socket path and its own keychain service.
func setupWorld(t *testing.T, env *testscript.Env, haveSS bool) error {
	hub := hubtest.New(t)
	env.Defer(hub.Close)
	env.Values[hubKey{}] = hub
	hub.AddUser("alice", "Alice Example")
	hub.AddUser("bob", "Bob Example")
	hub.AddOrg(hubtest.OrgSpec{Name: "acme", Fullname: "ACME ML"})
	hub.AddMember("acme", "alice", hubtest.RoleWrite)
	hub.AddRepo(hubtest.RepoSpec{ID: "acme/llm", Private: true, Files: map[string]string{"config.json": `{"model_type": "fake-llm"}`}})
	hub.AddRepo(hubtest.RepoSpec{ID: "acme/other", Private: true})
	hub.AddRepo(hubtest.RepoSpec{ID: "alice/x", Private: true})
	hub.AddRepo(hubtest.RepoSpec{ID: "bob/private", Private: true})
	tokens := map[string]string{
		"TOKEN_WRITE": hub.AddToken("alice", hubtest.TokenSpec{Role: "write", DisplayName: "laptop"}),
		"TOKEN_READ":  hub.AddToken("alice", hubtest.TokenSpec{Role: "read", DisplayName: "reader"}),
		"TOKEN_FG": hub.AddToken("alice", hubtest.TokenSpec{Role: "fineGrained", DisplayName: "acme-ci",
			Scoped: []hubtest.Scope{hubtest.ScopeOrg("acme", "repo.content.read", "repo.write")}}),
		"TOKEN_UNKNOWN": hubtest.NewTokenValue(),
		"ORG_TOKEN":     "api_org_" + strings.Repeat("Q", 34),
	}
	for k, v := range tokens {
		env.Setenv(k, v)
	}
	env.Setenv("HF_ENDPOINT", hub.URL())

	home := filepath.Join(env.WorkDir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	env.Setenv("HOME", home)
	// A short socket path: $WORK can exceed the 104-byte sun_path limit.
	sockDir, err := os.MkdirTemp("", "hfb")
	if err != nil {
		return err
	}
	env.Defer(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "d.sock")
	env.Setenv("HFBROKER_SOCKET", sock)
	env.Setenv("SOCKDIR", sockDir)
	env.Defer(func() { stopDaemon(sock) })

	service := fmt.Sprintf("hfbroker-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	env.Setenv("HFBROKER_KEYCHAIN_SERVICE", service)
	env.Setenv("KEYCHAIN_SERVICE", service)
	if haveSS {
		env.Setenv("DBUS_SESSION_BUS_ADDRESS", os.Getenv("DBUS_SESSION_BUS_ADDRESS"))
		env.Setenv("HFBROKER_BACKEND", "keychain")
		env.Defer(func() {
			for _, n := range []string{"laptop", "reader", "acme-ci", "default", "work", "_hfbroker-lease-key"} {
				keyring.Delete(service, n)
			}
		})
	} else {
		env.Setenv("HFBROKER_BACKEND", "memory")
	}
	for _, k := range []string{"GOCOVERDIR", "HFBROKER_TEST_SECRET_SERVICE"} {
		if v := os.Getenv(k); v != "" {
			env.Setenv(k, v)
		}
	}
	return nil
}

// daemonPID asks the kernel who serves the socket.
func daemonPID(sock string) (int, error) {
	c, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	cr, err := peercred.Get(c)
	if err != nil {
		return 0, err
	}
	return int(cr.PID), nil
}

func stopDaemon(sock string) {
	pid, err := daemonPID(sock)
	if err != nil {
		return
	}
	syscall.Kill(pid, syscall.SIGTERM)
	for range 100 {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
}

// no-secret-in VAR PATH...: no file under the paths contains $VAR's value.
func cmdNoSecretIn(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: no-secret-in VAR PATH...")
	}
	needle := ts.Getenv(args[0])
	if needle == "" {
		ts.Fatalf("$%s is empty", args[0])
	}
	for _, root := range args[1:] {
		err := filepath.WalkDir(ts.MkAbs(root), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if bytes.Contains(b, []byte(needle)) {
				ts.Fatalf("%s holds $%s in clear", p, args[0])
			}
			return nil
		})
		ts.Check(err)
	}
}

// keychain-has SERVICE NAME VAR: the keychain item SERVICE/NAME holds $VAR.
func cmdKeychainHas(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: keychain-has SERVICE NAME VAR")
	}
	got, err := keyring.Get(args[0], args[1])
	has := err == nil && got == ts.Getenv(args[2])
	if has == neg {
		ts.Fatalf("keychain item %s/%s holds $%s: %v (err %v)", args[0], args[1], args[2], has, err)
	}
}

// kill-daemon [-9]: signal the daemon serving $HFBROKER_SOCKET.
func cmdKillDaemon(ts *testscript.TestScript, neg bool, args []string) {
	pid, err := daemonPID(ts.Getenv("HFBROKER_SOCKET"))
	ts.Check(err)
	sig := syscall.SIGTERM
	if len(args) == 1 && args[0] == "-9" {
		sig = syscall.SIGKILL
	}
	ts.Check(syscall.Kill(pid, sig))
	for range 200 {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	ts.Fatalf("daemon %d still running", pid)
}

// wait-no-daemon: nothing answers on the socket (within 5 s).
func cmdWaitNoDaemon(ts *testscript.TestScript, neg bool, args []string) {
	for range 200 {
		if _, err := daemonPID(ts.Getenv("HFBROKER_SOCKET")); err != nil {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	ts.Fatalf("a daemon still answers")
}

// daemon-pid VAR: set $VAR to the serving daemon's pid.
func cmdDaemonPid(ts *testscript.TestScript, neg bool, args []string) {
	pid, err := daemonPID(ts.Getenv("HFBROKER_SOCKET"))
	ts.Check(err)
	ts.Setenv(args[0], fmt.Sprint(pid))
}

// env-file FILE VAR: write $VAR's value (no newline) to FILE, so a script can
// pipe a token to stdin without it appearing in the script's text.
func cmdEnvFile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: env-file FILE VAR")
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(ts.Getenv(args[1])), 0o600))
}
