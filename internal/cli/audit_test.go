package cli

import (
	"strings"
	"testing"
	"time"
)

// Issue 19: `hfbroker audit --since` took only Go durations, so `7d`,
// `yesterday` and a timestamp were refused, and with cobra's generic hint.
func TestAuditTimeAcceptsDaysYesterdayAndRFC3339(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	// 00:30 in Paris on 2026-03-30, the day after the switch to summer
	// time: yesterday was 23 hours long, and 24h ago is still yesterday.
	now := time.Date(2026, 3, 30, 0, 30, 0, 0, paris)
	tests := []struct {
		name string
		in   string
		want time.Time
	}{
		{"nothing is no bound", "", time.Time{}},
		{"a Go duration counts back from now", "90m", now.Add(-90 * time.Minute)},
		{"a compound Go duration", "1h30m", now.Add(-90 * time.Minute)},
		{"zero is now", "0s", now},
		{"days are 24 hours each", "7d", now.Add(-7 * 24 * time.Hour)},
		{"one day is 24 hours, not the calendar day", "1d", now.Add(-24 * time.Hour)},
		{"zero days is now", "0d", now},
		{"yesterday is the start of the previous local day", "yesterday", time.Date(2026, 3, 29, 0, 0, 0, 0, paris)},
		{"today is the start of this local day", "today", time.Date(2026, 3, 30, 0, 0, 0, 0, paris)},
		{"an RFC 3339 time in UTC", "2026-03-01T12:00:00Z", time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)},
		{"an RFC 3339 time with an offset", "2026-03-01T12:00:00+05:30", time.Date(2026, 3, 1, 6, 30, 0, 0, time.UTC)},
		{"an RFC 3339 time with fractions", "2026-03-01T12:00:00.5Z", time.Date(2026, 3, 1, 12, 0, 0, 5e8, time.UTC)},
		{"a date is local midnight", "2026-03-01", time.Date(2026, 3, 1, 0, 0, 0, 0, paris)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseAuditTime(tc.in, now)
			if err != nil {
				t.Fatalf("parseAuditTime(%q): %v", tc.in, err)
			}
			if !got.Equal(tc.want) {
				t.Errorf("parseAuditTime(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}

	for _, in := range []string{
		"last week", "7", "d", "-7d", "7D", "1.5d", "7d12h", "-1h", "Yesterday", "tomorrow",
		"2026-13-01", "2026-03-01 12:00:00", "2026-03-01T12:00:00", "99999999999999999999d", "100001d",
		"\x1b[31m1h",
	} {
		t.Run("refuses "+in, func(t *testing.T) {
			if got, err := parseAuditTime(in, now); err == nil {
				t.Errorf("parseAuditTime(%q) = %v, want an error", in, got)
			} else if strings.ContainsAny(err.Error(), "\x1b\n") {
				t.Errorf("the error quotes control characters raw: %q", err)
			}
		})
	}
}

func TestAuditFlagsAreUsageErrorsWithTheAcceptedForms(t *testing.T) {
	now := time.Date(2026, 3, 30, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		opts  AuditOptions
		error string
		hint  string
	}{
		{"a since that is no time", AuditOptions{Since: "last week"}, `--since "last week" is not a time`, "(7d), yesterday"},
		{"an until that is no time", AuditOptions{Until: "soon"}, `--until "soon" is not a time`, "RFC 3339"},
		{"a negative duration", AuditOptions{Since: "-1h"}, "negative", "yesterday"},
		{"an until before the since", AuditOptions{Since: "1h", Until: "2h"}, "is not after --since", "later than --since"},
		{"a malformed repo", AuditOptions{Repo: "acme"}, "invalid repo", "NAMESPACE/NAME"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Now = func() time.Time { return now }
			_, err := auditFilter(&tc.opts)
			ue, ok := err.(*userError)
			if !ok || ue.code != ExitUsage {
				t.Fatalf("err = %#v, want a usage error", err)
			}
			if !strings.Contains(ue.msg, tc.error) || !strings.Contains(ue.hint, tc.hint) {
				t.Errorf("error %q, hint %q; want them to mention %q and %q", ue.msg, ue.hint, tc.error, tc.hint)
			}
		})
	}

	opts := AuditOptions{Since: "yesterday", Until: "today", Profile: "ci", Repo: "models/acme/llm", Now: func() time.Time { return now }}
	f, err := auditFilter(&opts)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC); !f.Since.Equal(want) {
		t.Errorf("Since = %v, want %v", f.Since, want)
	}
	if want := time.Date(2026, 3, 30, 0, 0, 0, 0, time.UTC); !f.Until.Equal(want) {
		t.Errorf("Until = %v, want %v", f.Until, want)
	}
	if f.Profile != "ci" || f.Repo != "acme/llm" {
		t.Errorf("Profile, Repo = %q, %q; want ci and acme/llm, as the broker writes a model's repo", f.Profile, f.Repo)
	}
}
