//go:build unix

package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hfbroker/hfbroker/internal/client"
	"github.com/hfbroker/hfbroker/internal/daemon"
	"github.com/hfbroker/hfbroker/internal/gittest"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// BenchmarkGitLsRemote compares `git ls-remote` against a local smart-HTTP
// server with hfbroker as git's credential helper (set up by `hfbroker
// setup-git`) and with git's own plaintext `store` helper, alternating the
// two in every iteration so both see the same machine load. It reports the
// median wall time of each and their ratio (target: at most 1.03, issue 16).
//
// The helper is $HFBROKER_BENCH_HFBROKER when set (scripts/bench passes the
// real binary), else the test binary that testscript put on PATH as
// hfbroker. The daemon runs in this process with the memory backend.
//
// With $HFBROKER_BENCH_GITFLOOR naming internal/tools/gitfloor, a third arm
// runs git with that helper (a Go program that answers from a file and asks
// no daemon): the floor under any Go helper that git starts twice per
// operation, reported as floor-ms and floor-ratio beside the other two.
func BenchmarkGitLsRemote(b *testing.B) {
	git := gittest.LookGit(b)
	helper := os.Getenv("HFBROKER_BENCH_HFBROKER")
	if helper == "" {
		p, err := exec.LookPath("hfbroker")
		if err != nil {
			b.Fatalf("no hfbroker to use as git's helper: %v", err)
		}
		helper = p
	}

	// One origin serves both the Hub API (whoami-v2, which the daemon asks
	// at login) and git, as huggingface.co does.
	endpoint, token := gittest.HubOrigin(b)
	repoURL := endpoint + "/acme/llm"

	dir, err := os.MkdirTemp("", "hfb-gitbench")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := startBenchDaemon(b, dir, endpoint, "bench", token)

	hfHome, storeHome := filepath.Join(dir, "hf"), filepath.Join(dir, "store")
	hfEnv := append(gittest.CleanEnv(hfHome), "HF_ENDPOINT="+endpoint, "HFBROKER_SOCKET="+sock, "HFBROKER_NO_AUTOSTART=1")
	storeEnv := gittest.CleanEnv(storeHome)
	for _, d := range []string{hfHome, storeHome} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			b.Fatal(err)
		}
	}
	setup := exec.Command(helper, "setup-git", "--global")
	setup.Env = hfEnv
	if out, err := setup.CombinedOutput(); err != nil {
		b.Fatalf("hfbroker setup-git: %v\n%s", err, out)
	}
	creds := filepath.Join(storeHome, "git-credentials")
	if err := os.WriteFile(creds, []byte("http://hf_user:"+token+"@"+strings.TrimPrefix(endpoint, "http://")+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(storeHome, ".gitconfig"), []byte("[credential]\n\thelper = store --file="+creds+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}

	var floorEnv []string
	if floor := os.Getenv("HFBROKER_BENCH_GITFLOOR"); floor != "" {
		floorHome := filepath.Join(dir, "floor")
		if err := os.MkdirAll(floorHome, 0o700); err != nil {
			b.Fatal(err)
		}
		answer := filepath.Join(floorHome, "answer")
		if err := os.WriteFile(answer, []byte("hf_user\n"+token+"\n"), 0o600); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(floorHome, ".gitconfig"), []byte("[credential]\n\thelper = !'"+floor+"'\n"), 0o600); err != nil {
			b.Fatal(err)
		}
		floorEnv = append(gittest.CleanEnv(floorHome), "GITFLOOR_CREDENTIALS="+answer)
	}

	lsRemote := func(env []string) time.Duration {
		cmd := exec.Command(git, "ls-remote", repoURL)
		cmd.Env = env
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		start := time.Now()
		err := cmd.Run()
		d := time.Since(start)
		if err != nil || !strings.Contains(out.String(), "refs/heads/main") {
			// git's stderr holds no token: neither helper's answer is echoed.
			b.Fatalf("git ls-remote: %v\n%s", err, strings.ReplaceAll(errb.String(), token, "[token]"))
		}
		return d
	}
	envs := [][]string{hfEnv, storeEnv}
	if floorEnv != nil {
		envs = append(envs, floorEnv)
	}
	for _, env := range envs {
		lsRemote(env) // warm: page cache, the daemon's first lease
	}

	// Each iteration runs every arm once, the order rotated, so no arm always
	// follows another.
	times := make([][]time.Duration, len(envs))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k := range envs {
			arm := (i + k) % len(envs)
			times[arm] = append(times[arm], lsRemote(envs[arm]))
		}
	}
	b.StopTimer()
	median := func(ds []time.Duration) float64 {
		slices.Sort(ds)
		return float64(ds[len(ds)/2].Nanoseconds()) / 1e6
	}
	mh, ms := median(times[0]), median(times[1])
	b.ReportMetric(mh, "hfbroker-ms")
	b.ReportMetric(ms, "store-ms")
	b.ReportMetric(mh/ms, "ratio")
	if floorEnv != nil {
		mf := median(times[2])
		b.ReportMetric(mf, "floor-ms")
		b.ReportMetric(mf/ms, "floor-ratio")
	}
}

// startBenchDaemon runs a daemon in this process (memory backend) on a
// socket in dir, with token stored as profile name (verified with the Hub
// at endpoint), until the benchmark ends; it returns the socket.
func startBenchDaemon(b *testing.B, dir, endpoint, name, token string) string {
	b.Helper()
	sock := filepath.Join(dir, "s")
	vars := map[string]string{"HOME": filepath.Join(dir, "daemon"), "HFBROKER_BACKEND": "memory", "HF_ENDPOINT": endpoint}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Options{Socket: sock, Env: func(k string) string { return vars[k] },
			Logger: slog.New(slog.DiscardHandler), Ready: func(string) { close(ready) }})
	}()
	b.Cleanup(func() { cancel(); <-done })
	select {
	case <-ready:
	case err := <-done:
		b.Fatalf("daemon did not start: %v", err)
	case <-time.After(30 * time.Second):
		b.Fatal("daemon did not start within 30s")
	}
	c, err := client.Dial(ctx, client.Options{Socket: sock, NoAutostart: true})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	// Verified with the fake Hub, so a lease for the repo needs no Hub call.
	if _, err := c.AddToken(ctx, &pb.AddTokenRequest{Name: name, Token: token, Endpoint: endpoint}); err != nil {
		b.Fatalf("add token: %v", err)
	}
	return sock
}
