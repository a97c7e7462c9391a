package scan

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

func TestFindReportsTokensInEveryContext(t *testing.T) {
	m := newTokenMaker(1)
	hf, oauth, org, api := m.hf(), m.oauth(), m.apiOrg(), m.api()
	digits := "hf_" + m.body(30) + "1234"
	jwt := "hf_jwt_eyJ" + m.body(20) + ".eyJ" + m.body(30) + "." + m.body(20) + "-_x"
	cases := []struct {
		name  string
		input string
		token string
		kind  string
		line  int
		col   int
	}{
		{"a token alone is found", hf, hf, KindHF, 1, 1},
		{"a .env assignment is found", "A=1\nHF_TOKEN=" + hf + "\n", hf, KindHF, 2, 10},
		{"a quoted Python literal is found", `login(token="` + hf + `")`, hf, KindHF, 1, 14},
		{"a token in a URL's password is found", "https://u:" + hf + "@huggingface.co/x", hf, KindHF, 1, 11},
		{"a token after an escaped newline is found", `"text\n` + hf + `\n"`, hf, KindHF, 1, 8},
		{"a token with digits in its body is found", "x " + digits + " y", digits, KindHF, 1, 3},
		{"an OAuth token is found", "Bearer " + oauth, oauth, KindHFOAuth, 1, 8},
		{"a trusted-publisher JWT is found without its full stop", "got " + jwt + ".", jwt, KindHFJWT, 1, 5},
		{"a legacy org token is found", "key: " + org, org, KindAPIOrg, 1, 6},
		{"a legacy user token is found", "key: " + api, api, KindAPI, 1, 6},
		{"a token after a hyphen is found", "model-" + hf, hf, KindHF, 1, 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Find([]byte(tc.input))
			if len(got) != 1 {
				t.Fatalf("Find found %d tokens, want 1: %v", len(got), got)
			}
			g := got[0]
			if g.Token.Reveal() != tc.token || g.Kind != tc.kind || g.Line != tc.line || g.Col != tc.col {
				t.Errorf("got %v (kind %s), want %s at %d:%d", g, g.Kind, tc.kind, tc.line, tc.col)
			}
			if tc.input[g.Offset:g.End] != tc.token {
				t.Errorf("offsets %d..%d do not cover the token", g.Offset, g.End)
			}
		})
	}
}

func TestFindIgnoresNearMisses(t *testing.T) {
	m := newTokenMaker(2)
	hf := m.hf()
	cases := []struct{ name, input string }{
		{"hf_ inside a longer identifier", "my_" + hf},
		{"a letter glued before", "x" + hf},
		{"a body of 33 characters", "hf_" + m.body(33)},
		{"a body of 35 characters", "hf_" + m.body(35)},
		{"a token followed by an underscore", hf + "_v2"},
		{"a token followed by a digit", hf + "7"},
		{"an all-lowercase body, like a placeholder", "hf_" + strings.Repeat("x", 34)},
		{"an all-uppercase body", "hf_" + strings.ToUpper(m.body(34))},
		{"a hex body", "hf_" + hex.EncodeToString(make([]byte, 17))},
		{"a snake_case identifier", "hf_model_name_v2 = load()"},
		{"an OAuth identifier", "hf_oauth_client_id"},
		{"a short OAuth placeholder", "hf_oauth_..."},
		{"an org token with a digit", "api_org_" + m.body(33) + "1"},
		{"an api_ token with a digit", "api_" + m.body(33) + "1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Find([]byte(tc.input)); len(got) != 0 {
				t.Errorf("Find(%q) = %v, want nothing", tc.input, got)
			}
		})
	}
}

// TestFindCorpusOfNonTokensIsClean pins the false-positive rate on the
// strings that share a file with tokens: hashes, base64, UUIDs,
// identifiers, and near-misses.
func TestFindCorpusOfNonTokensIsClean(t *testing.T) {
	m := newTokenMaker(3)
	r := m.r
	randBytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		return b
	}
	words := []string{"model", "name", "hub", "token", "cache", "dir", "path", "repo", "v2", "id", "oauth", "org", "api", "jwt", "hf"}
	gens := []func() string{
		func() string { s := sha1.Sum(randBytes(16)); return hex.EncodeToString(s[:]) },
		func() string { s := sha256.Sum256(randBytes(16)); return hex.EncodeToString(s[:]) },
		func() string { s := sha256.Sum256(randBytes(16)); return "hf_" + hex.EncodeToString(s[:17]) },
		func() string { return base64.StdEncoding.EncodeToString(randBytes(16 + r.IntN(200))) },
		func() string { return base64.RawURLEncoding.EncodeToString(randBytes(16 + r.IntN(200))) },
		func() string {
			b := randBytes(16)
			return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
		},
		func() string { return "hf_" + fmt.Sprintf("%x-%x", randBytes(4), randBytes(12)) },
		func() string {
			parts := []string{"hf"}
			for range 1 + r.IntN(4) {
				parts = append(parts, words[r.IntN(len(words))])
			}
			return strings.Join(parts, "_")
		},
		func() string {
			return "hf_" + words[r.IntN(len(words))] + strings.ToUpper(words[r.IntN(len(words))][:1]) + words[r.IntN(len(words))]
		},
		func() string { return "api_" + words[r.IntN(len(words))] + "_" + words[r.IntN(len(words))] },
		func() string { return "hf_" + m.body(33) },
		func() string { return "word" + "hf_" + m.body(34) },
		func() string { return "hf_" + m.body(35) + "suffix" },
		func() string { return "hf_" + m.body(34) + "_x" },
		func() string { return "x_hf_" + m.body(34) },
		func() string { return "hf_" + strings.ToLower(m.body(34)) },
		func() string { return "api_org_" + m.body(20) },
		func() string { return "hf_oauth_" + m.body(10) },
		func() string { return string(randBytes(1 + r.IntN(64))) },
		func() string {
			b := make([]byte, 1+r.IntN(60))
			for i := range b {
				b[i] = "abcdefghijklmnopqrstuvwxyz0123456789_-./"[r.IntN(40)]
			}
			return string(b)
		},
	}
	seps := []string{" ", "\n", "\t", `"`, "'", "=", ": ", ",", "\r\n"}
	var all strings.Builder
	for i := range 10000 {
		s := gens[i%len(gens)]()
		if got := Find([]byte(s)); len(got) != 0 {
			t.Fatalf("corpus string %d (generator %d) matched: %v", i, i%len(gens), got)
		}
		all.WriteString(s)
		all.WriteString(seps[r.IntN(len(seps))])
	}
	if got := Find([]byte(all.String())); len(got) != 0 {
		t.Fatalf("the joined corpus matched %d times, first %v", len(got), got[0])
	}
}

func TestFindReportsAdjacentTokensSeparately(t *testing.T) {
	m := newTokenMaker(4)
	a, b := m.hf(), m.hf()
	got := Find([]byte(a + "," + b + "\n" + a))
	if len(got) != 3 || got[0].Token.Reveal() != a || got[1].Token.Reveal() != b || got[2].Line != 2 {
		t.Fatalf("got %v", got)
	}
}

func TestMatchNeverPrintsTheToken(t *testing.T) {
	tok := newTokenMaker(5).hf()
	got := Find([]byte("t=" + tok))
	if len(got) != 1 {
		t.Fatalf("got %v", got)
	}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		assertNoToken(t, format, fmt.Sprintf(format, got[0]), tok)
		assertNoToken(t, format+" of a slice", fmt.Sprintf(format, got), tok)
	}
	if !strings.Contains(got[0].String(), tok[len(tok)-4:]) {
		t.Errorf("String() %q should show the last four characters", got[0])
	}
}

func FuzzFind(f *testing.F) {
	m := newTokenMaker(6)
	f.Add([]byte("HF_TOKEN=" + m.hf() + "\n"))
	f.Add([]byte(`"\n` + m.hf() + `\n"`))
	f.Add([]byte("hf_oauth_" + m.body(30) + " api_org_" + m.body(34)))
	f.Fuzz(func(t *testing.T, data []byte) {
		prev := -1
		for _, g := range Find(data) {
			if g.Offset <= prev || g.End > len(data) || g.Offset >= g.End {
				t.Fatalf("bad span %d..%d after %d in %d bytes", g.Offset, g.End, prev, len(data))
			}
			prev = g.Offset
			if string(data[g.Offset:g.End]) != g.Token.Reveal() || g.Kind == "" {
				t.Fatalf("token and span disagree: %v", g)
			}
			// A token is found again on its own: the rules do not depend on
			// what surrounds it beyond the boundaries.
			again := Find([]byte(g.Token.Reveal()))
			if len(again) != 1 || again[0].Token != g.Token {
				t.Fatalf("%v not found again alone: %v", g, again)
			}
			if g.Line < 1 || g.Col < 1 {
				t.Fatalf("bad position %v", g)
			}
		}
	})
}
