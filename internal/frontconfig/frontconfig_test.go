package frontconfig

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func sampleRecord() Record {
	return NewRecord(Identity{Dev: 2049, Ino: 1234567, Size: 31, Mtime: 1765000000123456789, Ctime: 1765000000987654321},
		[]byte("endpoint = \"https://hub.example\"\n"), "https://hub.example")
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range []Record{sampleRecord(), {File: Identity{Mtime: -1, Ctime: -2}}} {
		b := r.Encode()
		if bytes.Count(b, []byte("\n")) != 1 || !bytes.HasPrefix(b, []byte("hfbroker-front-config v1 ")) {
			t.Fatalf("Encode = %q, want one versioned line", b)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(%q): %v", b, err)
		}
		if got != r {
			t.Errorf("Decode(Encode(r)) = %+v, want %+v", got, r)
		}
	}
	if b := (Record{}).Encode(); !bytes.HasSuffix(b, []byte(" -\n")) {
		t.Errorf("a config without endpoint encodes as %q, want it to end in \" -\"", b)
	}
}

func TestDecodeRefusesAnythingEncodeWouldNotWrite(t *testing.T) {
	good := string(sampleRecord().Encode())
	f := strings.Fields(good)
	line := func(fields ...string) string { return strings.Join(fields, " ") + "\n" }
	with := func(i int, v string) string {
		g := append([]string(nil), f...)
		g[i] = v
		return line(g...)
	}
	cases := map[string]string{
		"empty":                      "",
		"garbage":                    "hello\n",
		"no newline":                 strings.TrimSuffix(good, "\n"),
		"two lines":                  good + good,
		"CRLF":                       strings.TrimSuffix(good, "\n") + "\r\n",
		"a trailing space":           strings.TrimSuffix(good, "\n") + " \n",
		"a double space":             strings.Replace(good, " ", "  ", 1),
		"a future version":           with(1, "v2"),
		"another magic":              with(0, "hfbroker-front-cache"),
		"a field missing":            line(f[:8]...),
		"a field too many":           line(append(append([]string(nil), f...), "x")...),
		"a plus sign":                with(2, "+"+f[2]),
		"a leading zero":             with(3, "0"+f[3]),
		"a negative inode":           with(3, "-1"),
		"a number too large":         with(4, "99999999999999999999"),
		"upper-case hex":             with(7, strings.ToUpper(f[7])),
		"a short hash":               with(7, f[7][:62]),
		"a long hash":                with(7, f[7]+"00"),
		"an endpoint not normalised": with(8, "HTTPS://HUB.EXAMPLE/"),
		"an endpoint with userinfo":  with(8, "https://user:hf_x@hub.example"),
		"an endpoint not http":       with(8, "file:///etc/passwd"),
		"an empty endpoint":          strings.TrimSuffix(good, f[8]+"\n") + "\n",
		"too long":                   strings.Repeat("x", maxRecord+1) + "\n",
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if r, err := Decode([]byte(in)); !errors.Is(err, ErrBadRecord) {
				t.Errorf("Decode(%q) = %+v, %v; want ErrBadRecord", in, r, err)
			}
		})
	}
}

func TestEachIdentityFieldInvalidatesTheRecord(t *testing.T) {
	content := []byte("endpoint = \"https://hub.example\"\n")
	r := sampleRecord()
	if !r.Matches(r.File, content) {
		t.Fatal("a record does not match the file and content it was made from")
	}
	for name, change := range map[string]func(*Identity){
		"device": func(id *Identity) { id.Dev++ },
		"inode":  func(id *Identity) { id.Ino++ },
		"size":   func(id *Identity) { id.Size++ },
		"mtime":  func(id *Identity) { id.Mtime++ },
		"ctime":  func(id *Identity) { id.Ctime++ },
	} {
		id := r.File
		change(&id)
		if r.Matches(id, content) {
			t.Errorf("a record still matches after the file's %s changed", name)
		}
	}
	edited := bytes.Replace(content, []byte("hub"), []byte("hob"), 1) // same size
	if r.Matches(r.File, edited) {
		t.Error("a record still matches content edited in place with every stat field kept")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(sampleRecord().Encode())
	f.Add((Record{}).Encode())
	f.Add([]byte("hfbroker-front-config v2 1 2 3 4 5 00 -\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Encode(), b) {
			t.Fatalf("Decode accepted %q, which Encode writes as %q", b, r.Encode())
		}
	})
}
