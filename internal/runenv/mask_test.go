package runenv

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

// replaceOracle is the whole-input answer a MaskWriter must reproduce in
// pieces: strings.NewReplacer with the secrets ordered longest first, which
// picks the leftmost position and, there, the first pair in order.
func replaceOracle(input string, secrets []string, repl string) string {
	var uniq []string
	for _, s := range secrets {
		if s != "" && !slices.Contains(uniq, s) {
			uniq = append(uniq, s)
		}
	}
	if len(uniq) == 0 {
		return input
	}
	slices.SortFunc(uniq, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	var pairs []string
	for _, s := range uniq {
		pairs = append(pairs, s, repl)
	}
	return strings.NewReplacer(pairs...).Replace(input)
}

// writeInChunks feeds input to a fresh MaskWriter in chunks whose sizes come
// from sizes (cycled; 0 counts as 1), then closes it.
func writeInChunks(t testing.TB, input string, sizes []int, secrets []string, repl string) (out string, writes int) {
	t.Helper()
	var buf countingBuffer
	m := NewMaskWriter(&buf, secrets, repl)
	for i, k := 0, 0; i < len(input); k++ {
		n := 1
		if len(sizes) > 0 {
			n = max(sizes[k%len(sizes)], 1)
		}
		n = min(n, len(input)-i)
		if got, err := m.Write([]byte(input[i : i+n])); err != nil || got != n {
			t.Fatalf("Write(%q) = %d, %v; want %d, nil", input[i:i+n], got, err, n)
		}
		i += n
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return buf.String(), buf.writes
}

type countingBuffer struct {
	bytes.Buffer
	writes int
}

func (c *countingBuffer) Write(p []byte) (int, error) {
	c.writes++
	return c.Buffer.Write(p)
}

const testToken = "hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567"

func TestMaskWriter(t *testing.T) {
	tests := []struct {
		name    string
		secrets []string
		input   string
		sizes   []int
		want    string
	}{
		{"a token written whole is replaced", []string{testToken}, "token=" + testToken + "\n", nil, "token=hf_***\n"},
		{"a token written one byte at a time is replaced", []string{testToken}, "x" + testToken + "y", []int{1}, "xhf_***y"},
		{"a token split in three uneven writes is replaced", []string{testToken}, "ab" + testToken + testToken, []int{5, 17, 3}, "abhf_***hf_***"},
		{"text that only starts like a token is kept", []string{testToken}, "hf_AbCd but not more", []int{1}, "hf_AbCd but not more"},
		{"a token prefix at the very end is flushed on close", []string{testToken}, "end hf_Ab", []int{2}, "end hf_Ab"},
		{"the longest of overlapping secrets wins", []string{"abc", "abcdef"}, "xabcdefx abcx", []int{1}, "x***x ***x"},
		{"a shorter secret matches when the longer one fails", []string{"abcdef", "abc"}, "abcdeX", []int{1}, "***deX"},
		{"secrets overlapping each other mask left to right", []string{"aba"}, "ababa", []int{2}, "***ba"},
		{"no secrets passes bytes through", nil, "hf_anything", []int{3}, "hf_anything"},
		{"empty secrets are ignored", []string{""}, "abc", nil, "abc"},
		{"binary bytes are preserved exactly", []string{"\x00\xff"}, "\x01\x00\xff\x02\xff\x00", []int{1}, "\x01***\x02\xff\x00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			repl := "***"
			if len(tc.secrets) > 0 && tc.secrets[0] == testToken {
				repl = DefaultReplacement
			}
			got, _ := writeInChunks(t, tc.input, tc.sizes, tc.secrets, repl)
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if oracle := replaceOracle(tc.input, tc.secrets, repl); got != oracle {
				t.Errorf("got %q, oracle says %q", got, oracle)
			}
		})
	}
}

func TestMaskWriterPassesThroughWhatCannotBeASecretAtOnce(t *testing.T) {
	var buf bytes.Buffer
	m := NewMaskWriter(&buf, []string{testToken}, DefaultReplacement)
	// A prompt without a newline must reach the terminal before the child
	// reads its answer.
	m.Write([]byte("Password: "))
	if buf.String() != "Password: " {
		t.Fatalf("after a prompt, underlying writer has %q", buf.String())
	}
	// Only the part that could start the token waits.
	m.Write([]byte("ok hf_Ab"))
	if buf.String() != "Password: ok " {
		t.Fatalf("held back the wrong bytes: underlying writer has %q", buf.String())
	}
	m.Write([]byte("!"))
	if buf.String() != "Password: ok hf_Ab!" {
		t.Fatalf("a broken prefix was not released: %q", buf.String())
	}
}

func TestMaskWriterHoldsBackLessThanTheLongestSecret(t *testing.T) {
	var buf bytes.Buffer
	m := NewMaskWriter(&buf, []string{testToken, "short"}, DefaultReplacement)
	prefix := testToken[:len(testToken)-1]
	m.Write([]byte("a" + prefix))
	if len(m.pending) > len(testToken)-1 {
		t.Fatalf("holding %d bytes, more than len(secret)-1 = %d", len(m.pending), len(testToken)-1)
	}
	if buf.String() != "a" {
		t.Fatalf("underlying writer has %q, want %q", buf.String(), "a")
	}
}

func TestMaskWriterAfterClose(t *testing.T) {
	var buf bytes.Buffer
	m := NewMaskWriter(&buf, []string{"s"}, "*")
	m.Close()
	if _, err := m.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close: err = %v, want ErrClosed", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

type failWriter struct{}

var errBroken = errors.New("broken pipe")

func (failWriter) Write([]byte) (int, error) { return 0, errBroken }

func TestMaskWriterReportsTheUnderlyingError(t *testing.T) {
	m := NewMaskWriter(failWriter{}, []string{"secret"}, "*")
	if _, err := m.Write([]byte("hello")); !errors.Is(err, errBroken) {
		t.Fatalf("err = %v, want errBroken", err)
	}
	if _, err := m.Write([]byte("hello")); !errors.Is(err, errBroken) {
		t.Fatalf("the error is not sticky: %v", err)
	}
}

// FuzzMaskWriter: for any secrets, input and split, streaming gives the same
// bytes as replacing in the whole input at once. secrets is "|"-separated.
func FuzzMaskWriter(f *testing.F) {
	f.Add("hf_abc", []byte("xx hf_abc yy hf_ab"), []byte{1}, "hf_***")
	f.Add("abc|abcdef|bcd", []byte("abcdefabcbcdabcde"), []byte{2, 1, 3}, "*")
	f.Add("aa|a", []byte("aaaaa"), []byte{1}, "")
	f.Add("aba", []byte("abababa"), []byte{3, 1}, "aba")
	f.Fuzz(func(t *testing.T, secretList string, input []byte, splits []byte, repl string) {
		secrets := strings.Split(secretList, "|")
		if len(secrets) > 6 || len(input) > 4096 {
			t.Skip()
		}
		for _, s := range secrets {
			if len(s) > 64 {
				t.Skip()
			}
		}
		sizes := make([]int, len(splits))
		for i, b := range splits {
			sizes[i] = int(b % 70)
		}
		got, _ := writeInChunks(t, string(input), sizes, secrets, repl)
		if want := replaceOracle(string(input), secrets, repl); got != want {
			t.Fatalf("secrets %q, input %q, splits %v:\n got %q\nwant %q", secrets, input, sizes, got, want)
		}
	})
}
