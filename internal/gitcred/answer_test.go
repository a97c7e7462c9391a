package gitcred

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestWriteAnswerEmitsOnlyUsernamePasswordAndExpiry(t *testing.T) {
	tests := []struct {
		name string
		in   Answer
		want string
	}{
		{
			name: "an answer without expiry has two lines",
			in:   Answer{Username: "hf_user", Password: secretValue},
			want: "username=hf_user\npassword=" + secretValue + "\n",
		},
		{
			name: "an expiry is sent in unix seconds",
			in:   Answer{Username: "hf_user", Password: secretValue, PasswordExpiry: time.Unix(1900000000, 999).In(time.FixedZone("x", 3600))},
			want: "username=hf_user\npassword=" + secretValue + "\npassword_expiry_utc=1900000000\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteAnswer(&buf, tc.in); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tc.want {
				t.Fatalf("wrote %q, want %q", buf.String(), tc.want)
			}
			// What we write, our own strict parser must read back.
			req, err := Parse(&buf)
			if err != nil || req.Username != tc.in.Username || req.Password != tc.in.Password {
				t.Fatalf("Parse(answer) = %v, %v", req, err)
			}
		})
	}
}

// §5 item 12. A corrupted keychain value must not add attributes to git's view
// (CVE-2020-5260 with LF, CVE-2024-52006 with a lone CR); NUL truncates in C.
func TestWriteAnswerRefusesUnsafeValuesAndWritesNothing(t *testing.T) {
	tests := []struct {
		name string
		in   Answer
	}{
		{"a password with LF injecting a host is refused", Answer{Username: "hf_user", Password: secretValue + "\nhost=evil"}},
		{"a password with a lone CR is refused", Answer{Username: "hf_user", Password: secretValue + "\rhost=evil"}},
		{"a password with CRLF is refused", Answer{Username: "hf_user", Password: secretValue + "\r\n"}},
		{"a password with NUL is refused", Answer{Username: "hf_user", Password: secretValue + "\x00evil"}},
		{"a username with LF is refused after nothing was written", Answer{Username: "hf_user\nhost=evil", Password: secretValue}},
		{"an empty password is refused", Answer{Username: "hf_user"}},
		{"an empty username is refused", Answer{Password: secretValue}},
		{"a password longer than a git line is refused", Answer{Username: "u", Password: secretValue + strings.Repeat("x", MaxLineBytes)}},
		{"an expiry at the epoch is refused, git reads 0 as never", Answer{Username: "u", Password: secretValue, PasswordExpiry: time.Unix(0, 0)}},
		{"an expiry before 1970 is refused", Answer{Username: "u", Password: secretValue, PasswordExpiry: time.Unix(-5, 0)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := WriteAnswer(&buf, tc.in)
			if !errors.Is(err, ErrBadAnswer) {
				t.Fatalf("WriteAnswer = %v, want ErrBadAnswer", err)
			}
			if buf.Len() != 0 {
				t.Fatalf("WriteAnswer wrote %d bytes before refusing", buf.Len())
			}
			if strings.Contains(err.Error(), secretValue) || strings.Contains(err.Error(), "evil") {
				t.Fatalf("error text %q quotes the value", err)
			}
		})
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestWriteAnswerReportsWriteErrors(t *testing.T) {
	boom := errors.New("boom")
	err := WriteAnswer(failingWriter{boom}, Answer{Username: "u", Password: secretValue})
	if !errors.Is(err, boom) || strings.Contains(err.Error(), secretValue) {
		t.Fatalf("WriteAnswer = %v, want the writer's error without the password", err)
	}
}
