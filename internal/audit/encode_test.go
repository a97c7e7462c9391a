package audit

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

// tokenShapedRE is the expression hasTokenShape implements by hand: the
// oracle of its tests.
var tokenShapedRE = regexp.MustCompile(`hf_(?:oauth_|jwt_)?[A-Za-z0-9]{30,}`)

func sampleEvents() []Event {
	at := time.Date(2026, 12, 6, 17, 0, 0, 123456789, time.UTC)
	return []Event{
		{Time: at, Event: LeaseGranted},
		{Time: at, Event: LeaseGranted, Profile: "acme-ci", Fingerprint: "sha256:ab12", Repo: "datasets/acme/data", Access: "read",
			Purpose: "exec", LeaseID: "l-0011223344556677", UID: 1000, PID: 4242, Exe: "/usr/bin/python3", Cwd: "/home/ada/src", Forward: "gpu-1 ssh 77 @123", Label: "git"},
		{Time: at.In(time.FixedZone("CET", 3600)), Event: LeaseEnded, Cause: "ttl", Reason: `quote " backslash \ <html> & co`},
		{Time: at, Event: ProxyRequest, Method: "GET", Path: "/api/models/acme/llm?x=<1>", Status: 403, Bytes: -1, Count: 7, UID: -1, PID: -3},
		{Time: at, Event: "x", Reason: "tab\tnewline\ncr\rbell\x07 nul\x00 del\x7f bad utf8 \xff\xfe é 漢 \u2028 \u2029 emoji 😀"},
		{Time: at, Event: "x", Exe: strings.Repeat("a/", 300), Count: 1 << 40},
	}
}

// The hand encoder writes exactly what json.Marshal writes, so the log's
// format (and every reader of it) is unchanged.
func TestEncodeMatchesJSON(t *testing.T) {
	for _, ev := range sampleEvents() {
		want, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendEvent(nil, &ev)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("appendEvent:\n%s\njson.Marshal:\n%s", got, want)
		}
	}
	// A time json.Marshal refuses is refused too.
	if _, err := appendEvent(nil, &Event{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Error("appendEvent encoded the year 10000; json.Marshal refuses it")
	}
}

func FuzzEncodeMatchesJSON(f *testing.F) {
	for _, ev := range sampleEvents() {
		f.Add(ev.Event, ev.Reason, ev.Exe, ev.Path, int64(ev.PID), ev.Bytes)
	}
	f.Fuzz(func(t *testing.T, name, reason, exe, path string, pid, n int64) {
		ev := Event{Time: time.Unix(n%(1<<35), pid%1e9).UTC(), Event: name, Reason: reason, Exe: exe, Path: path,
			PID: int(pid), Bytes: n, Count: -n, UID: int(n >> 3), Profile: reason, Cwd: name}
		want, werr := json.Marshal(ev)
		got, gerr := appendEvent(nil, &ev)
		if (werr == nil) != (gerr == nil) || !bytes.Equal(got, want) {
			t.Fatalf("appendEvent:\n%s (%v)\njson.Marshal:\n%s (%v)", got, gerr, want, werr)
		}
	})
}

func TestHasTokenShapeMatchesTheExpression(t *testing.T) {
	long := strings.Repeat("Ab9", 10) // 30 letters and digits
	for _, s := range []string{
		"", "hf_", "hf_" + long, "hf_" + long[:29], "xhf_" + long + "!", "hf_oauth_" + long, "hf_jwt_" + long,
		"hf_oauth_" + long[:29], "hf_jwt" + long, "hf_oauth" + long, "hf_hf_" + long, "HF_" + long, "hf_" + long[:15] + "-" + long[:15],
		"hf_oauth_hf_" + long, `{"reason":"hf_` + long + `"}`, "hf_é" + long, "hf_jwt_oauth_" + long,
	} {
		if got, want := hasTokenShape([]byte(s)), tokenShapedRE.MatchString(s); got != want {
			t.Errorf("hasTokenShape(%q) = %v; the expression says %v", s, got, want)
		}
	}
}

func FuzzHasTokenShape(f *testing.F) {
	f.Add("hf_" + strings.Repeat("x", 30))
	f.Add("hf_oauth_" + strings.Repeat("Z9", 15))
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := hasTokenShape([]byte(s)), tokenShapedRE.MatchString(s); got != want {
			t.Fatalf("hasTokenShape(%q) = %v; the expression says %v", s, got, want)
		}
	})
}

// BenchmarkEncodeLeaseLine is one lease.granted line: as written now, and
// as it was written before issue 16 (json.Marshal and the expression).
func BenchmarkEncodeLeaseLine(b *testing.B) {
	ev := sampleEvents()[1]
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, _, err := encode(&ev, time.Now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json+regexp", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			line, err := json.Marshal(ev)
			if err != nil || tokenShapedRE.Match(line) {
				b.Fatal(err)
			}
		}
	})
}
