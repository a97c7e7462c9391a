//go:build !windows

package runenv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testDeadline is generous: it only stops a broken test from hanging on a
// loaded machine; nothing asserts how fast anything happened.
const testDeadline = 60 * time.Second

func lookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is needed by this test (CI installs it): %v", name, err)
	}
	return p
}

func TestSuperviseExitCodes(t *testing.T) {
	sh := lookPath(t, "sh")
	dir := t.TempDir()
	notExec := filepath.Join(dir, "not-executable")
	writeFile(t, notExec, 0o644)

	tests := []struct {
		name     string
		path     string
		args     []string
		want     int
		wantErr  bool
		wantText string
	}{
		{"a successful child gives 0", sh, []string{"sh", "-c", "exit 0"}, 0, false, ""},
		{"a failing child gives 1", sh, []string{"sh", "-c", "exit 1"}, 1, false, ""},
		{"any code is passed through", sh, []string{"sh", "-c", "exit 42"}, 42, false, ""},
		{"255 is passed through", sh, []string{"sh", "-c", "exit 255"}, 255, false, ""},
		{"death by SIGINT gives 130", sh, []string{"sh", "-c", "kill -INT $$"}, 130, false, ""},
		{"death by SIGTERM gives 143", sh, []string{"sh", "-c", "kill -TERM $$"}, 143, false, ""},
		{"death by SIGKILL gives 137", sh, []string{"sh", "-c", "kill -KILL $$"}, 137, false, ""},
		{"a non-executable file gives 126", notExec, nil, 126, true, "permission denied"},
		{"a missing command gives 127", filepath.Join(dir, "missing"), []string{"missing"}, 127, true, "command not found: missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
			defer cancel()
			code, err := Supervise(ctx, SuperviseOptions{Path: tc.path, Args: tc.args})
			if code != tc.want {
				t.Errorf("exit code %d, want %d (err %v)", code, tc.want, err)
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tc.wantErr)
			}
			if tc.wantErr {
				var ce *CommandError
				if !errors.As(err, &ce) || ce.ExitCode() != tc.want || !strings.Contains(err.Error(), tc.wantText) {
					t.Errorf("err = %v, want a *CommandError %d mentioning %q", err, tc.want, tc.wantText)
				}
			}
		})
	}
}

func TestSuperviseGivesTheChildExactlyTheBuiltEnvironment(t *testing.T) {
	envPath, err := Resolve("env", []string{"PATH=/usr/bin:/bin"})
	if err != nil {
		t.Fatal(err)
	}
	const oldToken = "hf_OldTokenFromTheParentShell0123456789"
	parent := []string{"PATH=/usr/bin:/bin", "HF_TOKEN=" + oldToken, "HUGGING_FACE_HUB_TOKEN=" + oldToken, "HF_TOKEN_PATH=/t", "LANG=C"}
	want := Build(parent, map[string]string{EnvToken: testToken, EnvLease: "lease-1", EnvProfile: "work"})

	var out bytes.Buffer
	code, err := Supervise(context.Background(), SuperviseOptions{Path: envPath, Args: []string{"env"}, Env: want, Stdout: &out})
	if err != nil || code != 0 {
		t.Fatalf("env: code %d, err %v", code, err)
	}
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if !slices.Equal(got, want) {
		t.Errorf("child environment\n got %q\nwant %q", got, want)
	}
	if strings.Contains(out.String(), oldToken) {
		t.Errorf("the parent's token reached the child")
	}
}

func TestSuperviseWithNilEnvDoesNotInheritOurs(t *testing.T) {
	t.Setenv("HF_TOKEN", "hf_ThisMustNotReachTheChild000000000000")
	var out bytes.Buffer
	code, err := Supervise(context.Background(), SuperviseOptions{Path: lookPath(t, "env"), Stdout: &out})
	if err != nil || code != 0 {
		t.Fatalf("env: code %d, err %v", code, err)
	}
	if out.Len() != 0 {
		t.Errorf("child saw an environment: %q", out.String())
	}
}

// maskChild prints $HF_TOKEN one character at a time, flushing and sleeping
// between characters so each arrives in its own write, on stdout and stderr.
const maskChild = `
import os, sys, time
tok = os.environ["HF_TOKEN"]
for stream in (sys.stdout, sys.stderr):
    stream.write("token=")
    for c in tok:
        stream.write(c); stream.flush(); time.sleep(0.005)
    stream.write(" done\n"); stream.flush()
sys.exit(3)
`

func TestSuperviseMasksATokenWrittenOneByteAtATime(t *testing.T) {
	py := lookPath(t, "python3")
	var stdout, stderr bytes.Buffer
	code, err := Supervise(context.Background(), SuperviseOptions{
		Path: py, Args: []string{"python3", "-c", maskChild},
		Env:    []string{"HF_TOKEN=" + testToken},
		Stdout: &stdout, Stderr: &stderr,
		Mask: []string{testToken},
	})
	if err != nil || code != 3 {
		t.Fatalf("code %d, err %v; want 3, nil", code, err)
	}
	for name, got := range map[string]string{"stdout": stdout.String(), "stderr": stderr.String()} {
		if strings.Contains(got, testToken) || strings.Contains(got, testToken[:20]) {
			t.Errorf("%s shows the token: %q", name, got)
		}
		if got != "token=hf_*** done\n" {
			t.Errorf("%s = %q, want %q", name, got, "token=hf_*** done\n")
		}
	}
}

func TestSuperviseMasksWhenStdoutAndStderrAreOneWriter(t *testing.T) {
	sh := lookPath(t, "sh")
	var out bytes.Buffer
	code, err := Supervise(context.Background(), SuperviseOptions{
		Path: sh, Args: []string{"sh", "-c", `printf '%s\n' "$HF_TOKEN"; printf '%s\n' "$HF_TOKEN" >&2`},
		Env:    []string{"HF_TOKEN=" + testToken},
		Stdout: &out, Stderr: &out,
		Mask: []string{testToken},
	})
	if err != nil || code != 0 {
		t.Fatalf("code %d, err %v", code, err)
	}
	if got := out.String(); got != "hf_***\nhf_***\n" {
		t.Errorf("output %q, want two masked lines", got)
	}
}

// `hfbroker exec --mask -- job 2>&1 | tee log`: hfbroker's stdout and
// stderr are two descriptors on one pipe. The child got a pipe for each,
// relayed apart, and its errors reached the log out of place (all of them
// before its output, at times). It now writes both into one pipe, in order.
func TestSuperviseKeepsTheOrderOfStdoutAndStderrOnOneFile(t *testing.T) {
	sh := lookPath(t, "sh")
	path := filepath.Join(t.TempDir(), "log")
	out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	errOut, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer errOut.Close()
	script := `[ /dev/fd/1 -ef /dev/fd/2 ] && echo one pipe; i=0; while [ $i -lt 50 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done; printf '%s\n' "$HF_TOKEN" >&2`
	code, err := Supervise(context.Background(), SuperviseOptions{
		Path: sh, Args: []string{"sh", "-c", script},
		Env:    []string{"HF_TOKEN=" + testToken},
		Stdout: out, Stderr: errOut,
		Mask: []string{testToken},
	})
	if err != nil || code != 0 {
		t.Fatalf("code %d, err %v", code, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	want.WriteString("one pipe\n")
	for i := range 50 {
		fmt.Fprintf(&want, "out %d\nerr %d\n", i, i)
	}
	want.WriteString("hf_***\n")
	if got := string(b); got != want.String() {
		t.Errorf("log:\n%s\nwant the child's lines in the order it wrote them, through one pipe:\n%s", got, want.String())
	}
}

func TestSuperviseEndsTheChildWhenTheContextIsDone(t *testing.T) {
	sh := lookPath(t, "sh")
	ctx, cancel := context.WithCancel(context.Background())
	r, w := io.Pipe()
	go func() {
		// Cancel once the child is running and has set its trap.
		bufio.NewReader(r).ReadString('\n')
		cancel()
		io.Copy(io.Discard, r)
	}()
	code, err := Supervise(ctx, SuperviseOptions{
		Path: sh, Args: []string{"sh", "-c", "trap 'exit 21' TERM; echo ready; while :; do sleep 1 </dev/null >/dev/null 2>&1 & wait $!; done"},
		Stdout: w,
	})
	w.Close()
	if err != nil || code != 21 {
		t.Fatalf("code %d, err %v; want the child's TERM trap to exit 21", code, err)
	}
}

// helper starts the test binary as a supervising hfbroker in a session of its
// own (no controlling terminal, so SIGINT is forwarded) and streams its
// stdout and stderr lines.
type helper struct {
	cmd   *exec.Cmd
	lines chan string
	all   []string
}

func startHelper(t *testing.T, mode string, extraEnv []string, args ...string) *helper {
	t.Helper()
	return startHelperCmd(t, exec.Command(os.Args[0], args...), mode, extraEnv)
}

// startHelperIgnoring starts the helper as nohup would: with the signals
// ignored, as sh's `trap ”` leaves them for the program it execs.
func startHelperIgnoring(t *testing.T, ignore, mode string, args ...string) *helper {
	t.Helper()
	sh := lookPath(t, "sh")
	cmd := exec.Command(sh, append([]string{"-c", "trap '' " + ignore + `; exec "$0" "$@"`, os.Args[0]}, args...)...)
	return startHelperCmd(t, cmd, mode, nil)
}

func startHelperCmd(t *testing.T, cmd *exec.Cmd, mode string, extraEnv []string) *helper {
	t.Helper()
	cmd.Env = append(append(os.Environ(), helperEnv+"="+mode), extraEnv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	h := &helper{cmd: cmd, lines: make(chan string, 100)}
	go func() {
		defer close(h.lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		pr.Close()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return h
}

// waitFor reads lines until one equals want.
func (h *helper) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(testDeadline)
	for {
		select {
		case line, ok := <-h.lines:
			if !ok {
				t.Fatalf("helper output ended before %q; got %q", want, h.all)
			}
			h.all = append(h.all, line)
			if line == want {
				return
			}
		case <-deadline:
			t.Fatalf("no %q from the helper; got %q", want, h.all)
		}
	}
}

// finish drains the output and returns the helper's wait status.
func (h *helper) finish(t *testing.T) syscall.WaitStatus {
	t.Helper()
	deadline := time.After(testDeadline)
	for done := false; !done; {
		select {
		case line, ok := <-h.lines:
			if !ok {
				done = true
				break
			}
			h.all = append(h.all, line)
		case <-deadline:
			t.Fatalf("helper did not finish; output so far %q", h.all)
		}
	}
	h.cmd.Wait()
	return h.cmd.ProcessState.Sys().(syscall.WaitStatus)
}

func (h *helper) count(line string) int {
	n := 0
	for _, l := range h.all {
		if l == line {
			n++
		}
	}
	return n
}

func (h *helper) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := h.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal helper: %v", err)
	}
}

// loop keeps a shell waiting in `wait`, which trapped signals interrupt at
// once; the sleeps hold none of the output pipes.
const loop = "while :; do sleep 1 </dev/null >/dev/null 2>&1 & wait $!; done"

func TestSuperviseForwardsSignalsSentByKill(t *testing.T) {
	tests := []struct {
		name string
		sig  syscall.Signal
		want int
	}{
		{"SIGTERM to hfbroker ends the child with 143", syscall.SIGTERM, 143},
		{"SIGHUP to hfbroker ends the child with 129", syscall.SIGHUP, 129},
		{"SIGINT by kill without a terminal ends the child with 130", syscall.SIGINT, 130},
		{"SIGQUIT by kill without a terminal ends the child with 131", syscall.SIGQUIT, 131},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := startHelper(t, "supervise", nil, "sh", "-c", "echo ready; exec sleep 600")
			h.waitFor(t, "ready")
			h.signal(t, tc.sig)
			ws := h.finish(t)
			if ws.ExitStatus() != tc.want {
				t.Errorf("hfbroker exited %v, want %d; output %q", ws, tc.want, h.all)
			}
		})
	}
}

func TestSuperviseForwardsSIGTERMOnceToATrappingChild(t *testing.T) {
	h := startHelper(t, "supervise", nil, "sh", "-c", "trap 'echo got TERM; exit 7' TERM; echo ready; "+loop)
	h.waitFor(t, "ready")
	h.signal(t, syscall.SIGTERM)
	ws := h.finish(t)
	if ws.ExitStatus() != 7 {
		t.Errorf("exit %v, want the trap's 7; output %q", ws, h.all)
	}
	if n := h.count("got TERM"); n != 1 {
		t.Errorf("the child's trap ran %d times, want once; output %q", n, h.all)
	}
	if n := h.count(`helper: signal "terminated" forwarded=true`); n != 1 {
		t.Errorf("hfbroker forwarded SIGTERM %d times, want once; output %q", n, h.all)
	}
}

func TestSuperviseKillsAChildThatIgnoresASecondSIGTERM(t *testing.T) {
	h := startHelper(t, "supervise", []string{"RUNENV_TEST_KILL_GRACE=200ms"},
		"sh", "-c", "trap 'echo got TERM' TERM; echo ready; "+loop)
	h.waitFor(t, "ready")
	h.signal(t, syscall.SIGTERM)
	h.waitFor(t, "got TERM")
	h.signal(t, syscall.SIGTERM)
	ws := h.finish(t)
	if ws.ExitStatus() != 137 {
		t.Errorf("exit %v, want 137 (SIGKILL after the grace period); output %q", ws, h.all)
	}
}

func TestSuperviseNeverForwardsSIGURG(t *testing.T) {
	// The kernel delivers pending signals lowest number first, and SIGURG
	// (23 on Linux) is higher than every forwarded one, so a SIGUSR1 sent
	// after it can overtake it. Two round trips make sure hfbroker had every
	// chance to handle the SIGURG before the child is told to exit.
	h := startHelper(t, "supervise", nil, "sh", "-c",
		"trap 'echo got URG' URG; trap 'echo got USR1' USR1; trap 'echo got USR2' USR2; trap 'exit 5' TERM; echo ready; "+loop)
	h.waitFor(t, "ready")
	h.signal(t, syscall.SIGURG)
	h.signal(t, syscall.SIGUSR1)
	h.waitFor(t, "got USR1")
	h.signal(t, syscall.SIGUSR2)
	h.waitFor(t, "got USR2")
	h.signal(t, syscall.SIGTERM)
	ws := h.finish(t)
	if ws.ExitStatus() != 5 {
		t.Errorf("exit %v, want 5; output %q", ws, h.all)
	}
	for _, line := range h.all {
		if strings.Contains(line, "URG") || strings.Contains(line, "urgent") {
			t.Errorf("SIGURG was handled or passed on: %q; output %q", line, h.all)
		}
	}
}

// A caller of Supervise that exits next can die of the signal that killed
// the child (Reraise) only if it can tell that death from an exit with the
// same 128+N: OnKilled says which signal it was, and is not called for an
// exit code.
func TestSuperviseTellsASignalDeathFromItsExitCode(t *testing.T) {
	sh := lookPath(t, "sh")
	tests := []struct {
		name string
		cmd  string
		want os.Signal // nil: OnKilled is not called
	}{
		{"death by SIGINT is told", "kill -INT $$", syscall.SIGINT},
		{"death by SIGKILL is told", "kill -KILL $$", syscall.SIGKILL},
		{"exit 130 is not a death by SIGINT", "exit 130", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
			defer cancel()
			var got []os.Signal
			code, err := Supervise(ctx, SuperviseOptions{Path: sh, Args: []string{"sh", "-c", tc.cmd},
				OnKilled: func(sig os.Signal) { got = append(got, sig) }})
			if err != nil || code < 128 {
				t.Fatalf("Supervise: %d, %v; want 128+N", code, err)
			}
			var want []os.Signal
			if tc.want != nil {
				want = []os.Signal{tc.want}
			}
			if !slices.Equal(got, want) {
				t.Errorf("OnKilled told %v, want %v", got, want)
			}
		})
	}
}

// `nohup hfbroker exec --mask -- job`: SIGHUP and SIGINT ignored when
// hfbroker starts stay ignored for the job, as through Exec. Supervise
// caught them, which gave the child its default action back, and passed a
// hangup on: a hangup sent to the job's process group (a shell's logout
// does that) killed the job nohup was meant to keep.
func TestSuperviseKeepsSignalsIgnoredAtStartIgnored(t *testing.T) {
	h := startHelperIgnoring(t, "HUP INT", "supervise", "sh", "-c", "echo ready; exec sleep 600")
	h.waitFor(t, "ready")
	// The helper leads its own session and process group, the child's too.
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT} {
		if err := syscall.Kill(-h.cmd.Process.Pid, sig); err != nil {
			t.Fatal(err)
		}
	}
	// SIGTERM last: signals pending together arrive lowest number first.
	h.signal(t, syscall.SIGTERM)
	ws := h.finish(t)
	if ws.ExitStatus() != 143 {
		t.Errorf("hfbroker %v, want exit 143 from the SIGTERM alone: an ignored signal killed the job; output %q", ws, h.all)
	}
	for _, l := range h.all {
		if strings.HasPrefix(l, `helper: signal "hangup"`) || strings.HasPrefix(l, `helper: signal "interrupt"`) {
			t.Errorf("hfbroker caught a signal it was started ignoring: %q", l)
		}
	}
}
