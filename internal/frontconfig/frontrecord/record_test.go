package frontrecord

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
)

const sampleText = "endpoint = \"https://hub.example\"\n"

func sampleRecord() Record {
	return Record{
		File:     Identity{Dev: 2049, Ino: 1234567, Size: int64(len(sampleText)), Mtime: 1765000000123456789, Ctime: 1765000000987654321},
		Endpoint: "https://hub.example",
		Content:  sampleText,
	}
}

func TestRecordRoundTrip(t *testing.T) {
	big := strings.Repeat("#\n", MaxContent/2)
	for _, r := range []Record{
		sampleRecord(),
		{File: Identity{Mtime: -1, Ctime: -2}},
		{File: Identity{Size: 1}, Content: "\n"}, // a newline inline is content, not a header
		{File: Identity{Size: MaxContent}, Content: big},
	} {
		b := r.Encode()
		header, content, _ := bytes.Cut(b, []byte("\n"))
		if !bytes.HasPrefix(header, []byte("hfbroker-front-config v2 ")) || string(content) != r.Content {
			t.Fatalf("Encode = %.200q, want a versioned header line and the content", b)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(%.200q): %v", b, err)
		}
		if got != r {
			t.Errorf("Decode(Encode(r)) = %+v, want %+v", got, r)
		}
	}
	if b := (Record{}).Encode(); string(b) != "hfbroker-front-config v2 0 0 0 0 0 - 0\n" {
		t.Errorf("an empty config without endpoint encodes as %q", b)
	}
}

func TestDecodeRefusesAnythingEncodeWouldNotWrite(t *testing.T) {
	good := string(sampleRecord().Encode())
	header, content, _ := strings.Cut(good, "\n")
	f := strings.Split(header, " ")
	record := func(fields ...string) string { return strings.Join(fields, " ") + "\n" + content }
	with := func(i int, v string) string {
		g := append([]string(nil), f...)
		g[i] = v
		return record(g...)
	}
	big := strings.Repeat("#", MaxContent+1)
	n := strconv.Itoa(len(content))
	cases := map[string]string{
		"empty":                          "",
		"garbage":                        "hello\n",
		"no newline":                     header,
		"a header without its content":   header + "\n",
		"the content twice":              good + content,
		"trailing garbage":               good + "x",
		"a trailing newline":             good + "\n",
		"a NUL after the content":        good + "\x00",
		"one byte of content missing":    strings.TrimSuffix(good, "\n"),
		"CRLF":                           header + "\r\n" + content,
		"a trailing space":               header + " \n" + content,
		"a double space":                 strings.Replace(good, " ", "  ", 1),
		"a v1 record":                    "hfbroker-front-config v1 2049 1234567 33 1765000000123456789 1765000000987654321 " + strings.Repeat("ab", 32) + " https://hub.example\n",
		"a v1 record's fields under v2":  "hfbroker-front-config v2 2049 1234567 33 1765000000123456789 1765000000987654321 " + strings.Repeat("ab", 32) + " https://hub.example\n",
		"version v1":                     with(1, "v1"),
		"a future version":               with(1, "v3"),
		"another magic":                  with(0, "hfbroker-front-cache"),
		"a field missing":                record(f[:8]...),
		"a field too many":               record(append(append([]string(nil), f...), "x")...),
		"a plus sign":                    with(2, "+"+f[2]),
		"a leading zero":                 with(3, "0"+f[3]),
		"a leading zero in the length":   with(8, "0"+n),
		"a plus sign in the length":      with(8, "+"+n),
		"a minus zero":                   with(5, "-0"),
		"hex":                            with(2, "0x801"),
		"a negative inode":               with(3, "-1"),
		"a number too large":             with(5, "99999999999999999999"),
		"a negative length":              with(8, "-1"),
		"a length shorter than content":  with(8, strconv.Itoa(len(content)-1)),
		"a length longer than content":   with(8, strconv.Itoa(len(content)+1)),
		"a size other than the length":   with(4, strconv.Itoa(len(content)+1)),
		"an empty endpoint":              with(7, ""),
		"an endpoint with a tab":         with(7, "https://hub.example\t"),
		"an endpoint with a control":     with(7, "https://hub.example\x1b[2J"),
		"an endpoint not ASCII":          with(7, "https://hüb.example"),
		"content over the inline limit":  "hfbroker-front-config v2 1 2 " + strconv.Itoa(len(big)) + " 4 5 - " + strconv.Itoa(len(big)) + "\n" + big,
		"a header over its limit":        with(7, "https://hub.example/"+strings.Repeat("x", maxHeader)),
		"too long":                       strings.Repeat("x", maxRecord+1) + "\n",
		"a header line that is the file": "hfbroker-front-config v2 1 2 0 4 5 - 0",
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if r, err := Decode([]byte(in)); !errors.Is(err, ErrBadRecord) {
				t.Errorf("Decode(%.200q) = %+v, %v; want ErrBadRecord", in, r, err)
			}
		})
	}
}

// The front compares identity and bytes, both: either alone may stay while
// the file changes.
func TestEachIdentityFieldInvalidatesTheRecord(t *testing.T) {
	content := []byte(sampleText)
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
}

// An edit within the kernel's timestamp tick keeps size, mtime and ctime
// (every stat field): only the bytes tell, and any byte does.
func TestAnEditThatKeepsEveryStatFieldInvalidatesTheRecord(t *testing.T) {
	r := sampleRecord()
	content := []byte(sampleText)
	for i := range content {
		edited := bytes.Clone(content)
		edited[i] ^= 1
		if r.Matches(r.File, edited) {
			t.Errorf("a record still matches content with byte %d edited and every stat field kept", i)
		}
	}
	if r.Matches(r.File, content[:len(content)-1]) || r.Matches(r.File, append(bytes.Clone(content), ' ')) {
		t.Error("a record matches content of another length")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(sampleRecord().Encode())
	f.Add((Record{}).Encode())
	f.Add([]byte("hfbroker-front-config v2 1 2 3 4 5 - 3\nabc"))
	f.Add([]byte("hfbroker-front-config v1 1 2 3 4 5 00 -\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Encode(), b) {
			t.Fatalf("Decode accepted %q, which Encode writes as %q", b, r.Encode())
		}
		if !r.Matches(r.File, []byte(r.Content)) || int64(len(r.Content)) != r.File.Size || len(r.Content) > MaxContent {
			t.Fatalf("Decode accepted %q, a record of content that is not the whole file or over the limit", b)
		}
	})
}
