package main

import (
	"strings"
	"testing"
)

// The exec row names the floor under any Go exec that asks the daemon:
// execfloor plus what callfloor adds to the empty program, measured in the
// same row.
func TestReportNamesTheCallAndExecFloors(t *testing.T) {
	c := func(name string, p50 float64) CommandTime {
		return CommandTime{Name: name, Command: name, Latency: Latency{N: 1, P50: p50}}
	}
	r := &results{times: map[string]TimeResult{
		"token": {Name: "token", Runs: 1, Commands: []CommandTime{c("hfbroker", 6700), c("call-floor", 6000), c("empty-go", 5000)}},
		"exec":  {Name: "exec", Runs: 1, Commands: []CommandTime{c("hfbroker-exec", 9000), c("true", 2000), c("exec-floor", 7500), c("call-floor", 6200), c("empty-go", 5000)}},
	}}
	var b strings.Builder
	writeReport(&b, r, nil, "", "", "", "")
	out := b.String()
	for _, want := range []string{
		"(`callfloor`, the floor under any Go `token`) / an empty Go program: **1.20x**",
		"- `hfbroker token` / that floor: **1.12x**",
		"the floor under any Go `exec` that asks the daemon (execfloor + callfloor − empty): 1.74x",
		"execfloor, plus what `callfloor` adds to an empty program, / an empty Go program: **1.74x**",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
}

// The lane's target row names the second floor when compare ran it.
func TestReportNamesTheLanesSecondFloor(t *testing.T) {
	l := func(p50, p99 float64) Latency { return Latency{N: 1, P50: p50, P99: p99} }
	r := &results{compare: map[string]CompareResult{"compare-c16": {
		Name: "compare-c16", Rounds: 2, CallsPerRound: 10, Concurrency: 16,
		LaneRounds: []Latency{l(400, 2000), l(400, 2200)}, EchoRounds: []Latency{l(200, 1000), l(200, 1000)},
		FloorRounds: []Latency{l(300, 1700), l(300, 1500)}, P99Ratios: []float64{2, 2.2},
		MedianP99Ratio: 2.1, MedianFloorP99Ratio: 1.6, MedianFloorP50Ratio: 1.5,
	}}}
	var b strings.Builder
	writeReport(&b, r, nil, "", "", "", "")
	for _, want := range []string{
		"an echo that makes only a lease's two mandatory system calls, on one P as the daemon: 1.60x",
		"median p99 1.60x, p50 1.50x",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the report lacks %q", want)
		}
	}
}
