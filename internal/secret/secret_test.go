package secret_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hfbroker/hfbroker/internal/secret"
)

// raw is shaped like a classic token; the tests look for it and for its
// first ten characters in every output.
const raw = "hf_AbCdEfGhIjKlMnOpQrStUvWxYzAbCdWXYZ"

func assertHidden(t *testing.T, what, out string) {
	t.Helper()
	if strings.Contains(out, raw) || strings.Contains(out, raw[3:13]) || strings.Contains(out, fmt.Sprintf("%x", raw)[:20]) {
		t.Errorf("%s shows the token: %q", what, out)
	}
}

type holder struct {
	Tok  secret.Token
	Ptr  *secret.Token
	List []secret.Token
	Map  map[string]secret.Token
}

// TestTokenNeverShowsThroughFmt formats a token, and values that hold one,
// with every verb and the flags fmt knows.
func TestTokenNeverShowsThroughFmt(t *testing.T) {
	tok := secret.Token(raw)
	h := holder{Tok: tok, Ptr: &tok, List: []secret.Token{tok}, Map: map[string]secret.Token{"k": tok}}
	values := map[string]any{
		"token":      tok,
		"pointer":    &tok,
		"struct":     h,
		"struct ptr": &h,
		"slice":      []secret.Token{tok, tok},
		"map value":  map[string]secret.Token{"a": tok},
		"map key":    map[secret.Token]int{tok: 1},
		"any slice":  []any{tok},
		"array":      [1]secret.Token{tok},
	}
	// Not %p or %w: fmt prints a bad verb's operand without calling its
	// methods (its "erroring" guard), so a string-kinded Token shows raw
	// in "%!p(secret.Token=…)". go vet's printf check refuses both verbs
	// for a Token, and go vet runs on every change.
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "% x", "%#x", "%d", "%c", "%U", "%t", "%e", "%g", "%50s", "%-50s", "%.40s", "%.1000q", "%+q", "%#q", "%T", "%!", "%08.3f"}
	for name, v := range values {
		for _, verb := range verbs {
			assertHidden(t, name+" "+verb, fmt.Sprintf(verb, v))
		}
		assertHidden(t, name+" Sprint", fmt.Sprint(v))
		assertHidden(t, name+" Sprintln", fmt.Sprintln(v, v))
	}
	if got := fmt.Sprint(tok); got != "hf_…WXYZ" {
		t.Errorf("Sprint = %q, want the masked form hf_…WXYZ", got)
	}
}

// TestTokenNeverShowsThroughJSON: encoding/json uses MarshalText, for a
// token alone, as a field, a map key and a map value.
func TestTokenNeverShowsThroughJSON(t *testing.T) {
	tok := secret.Token(raw)
	for name, v := range map[string]any{
		"token":  tok,
		"struct": holder{Tok: tok, Ptr: &tok, List: []secret.Token{tok}, Map: map[string]secret.Token{"k": tok}},
		// Not a map keyed by Token: encoding/json writes string-kinded
		// keys as they are, before it looks for MarshalText. The code keys
		// maps by Token only for sets it never marshals.
		"any": []any{tok},
	} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		assertHidden(t, "json "+name, string(b))
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", " ")
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		assertHidden(t, "json encoder "+name, buf.String())
	}
}

// TestTokenNeverShowsThroughSlog: both handlers, as a value, in a group, as
// an any, inside a struct, in the message's args and in With.
func TestTokenNeverShowsThroughSlog(t *testing.T) {
	tok := secret.Token(raw)
	for _, kind := range []string{"text", "json"} {
		var buf bytes.Buffer
		var hd slog.Handler = slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
		if kind == "json" {
			hd = slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
		}
		l := slog.New(hd)
		l.Info("a", "tok", tok)
		l.Info("b", slog.Any("tok", tok), slog.Group("g", "tok", tok))
		l.Info("c", "holder", holder{Tok: tok, Ptr: &tok})
		l.Info("d", "ptr", &tok, "list", []secret.Token{tok})
		l.With("tok", tok).WithGroup("x").Warn("e", "tok", tok)
		l.Error("f", "err", fmt.Errorf("use %v: %w", tok, errors.New("boom")))
		assertHidden(t, "slog "+kind, buf.String())
		if !strings.Contains(buf.String(), "hf_…WXYZ") {
			t.Errorf("slog %s lacks the masked form:\n%s", kind, buf.String())
		}
	}
}

// TestTokenNeverShowsThroughErrors: wrapped, joined and formatted errors.
func TestTokenNeverShowsThroughErrors(t *testing.T) {
	tok := secret.Token(raw)
	base := fmt.Errorf("read token %v from keychain: %w", tok, errors.New("denied"))
	for name, err := range map[string]error{
		"errorf %v":  base,
		"errorf %q":  fmt.Errorf("token %q", tok),
		"errorf %#v": fmt.Errorf("token %#v", tok),
		"wrapped":    fmt.Errorf("outer: %w", base),
		"joined":     errors.Join(base, fmt.Errorf("%s", tok)),
	} {
		assertHidden(t, name, err.Error())
		assertHidden(t, name+" %+v", fmt.Sprintf("%+v", err))
	}
	// The checks' errors never quote their input.
	for _, bad := range []string{raw + " ", "api_org_" + raw[3:], raw[3:], raw + "\x00", raw + strings.Repeat("x", secret.MaxLen)} {
		if err := secret.Check(bad); err == nil {
			t.Fatalf("Check(%q) = nil", bad)
		} else {
			assertHidden(t, "Check error", err.Error())
		}
	}
}

// TestTokenReveal: the one way out.
func TestTokenReveal(t *testing.T) {
	if secret.Token(raw).Reveal() != raw {
		t.Fatal("Reveal does not return the token")
	}
}

// FuzzCheck pins the checks every stored token passes, and that the masked
// form never shows more than four characters of the secret.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{raw, "", "hf_", "api_org_abc", "api_abcdefghijklmnop", "hf_oauth_" + raw, "hf_a b", "hf_\u00a0x", "\xff", "hf_\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := secret.Check(s)
		if err == nil {
			if s == "" || len(s) > secret.MaxLen || !utf8.ValidString(s) {
				t.Fatalf("Check(%q) accepted", s)
			}
			if !strings.HasPrefix(s, "hf_") && !strings.HasPrefix(s, "api_") || strings.HasPrefix(s, "api_org_") {
				t.Fatalf("Check(%q) accepted a prefix it must refuse", s)
			}
			for _, r := range s {
				if r <= ' ' || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == '\u2028' || r == '\u2029' || r == '\u00a0' {
					t.Fatalf("Check(%q) accepted whitespace or a control character", s)
				}
			}
		} else if len(s) >= 8 && strings.Contains(err.Error(), s) {
			t.Fatalf("Check's error quotes its input: %v", err)
		}
		m := secret.Mask(s)
		if got := fmt.Sprintf("%v|%s|%q|%x", secret.Token(s), secret.Token(s), secret.Token(s), secret.Token(s)); got != m+"|"+m+"|"+m+"|"+m {
			t.Fatalf("Token(%q) formats as %q, want %q everywhere", s, got, m)
		}
		// What Mask shows of the secret: at most its last four bytes.
		shown := m
		for _, p := range []string{"hf_oauth_", "hf_jwt_", "api_org_", "hf_", "api_"} {
			if strings.HasPrefix(s, p) {
				shown = strings.TrimPrefix(m, p)
				break
			}
		}
		shown = strings.TrimPrefix(shown, "…")
		if len(shown) > 4 || (s != "" && !strings.HasSuffix(s, shown)) {
			t.Fatalf("Mask(%q) = %q shows too much", s, m)
		}
	})
}
