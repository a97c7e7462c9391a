package lane

import (
	"bufio"
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hfbroker/hfbroker/internal/testutil"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

var fieldNumbers = testutil.FieldNumbers

// Issue 16: the envelopes are encoded by hand (wire.go), so that a CLI
// process does not pay for proto's reflection on them. The hand encoding
// must stay proto's: a field added to lane.proto fails this test until
// wire.go knows it.
func TestEnvelopesMatchProto(t *testing.T) {
	if got, want := fieldNumbers(&pb.LaneCall{}), []protoreflect.FieldNumber{1, 2, 3}; !slices.Equal(got, want) {
		t.Fatalf("LaneCall has fields %v; wire.go encodes %v: teach appendCall the new ones", got, want)
	}
	if got, want := fieldNumbers(&pb.LaneReply{}), []protoreflect.FieldNumber{1, 2, 3, 4, 5}; !slices.Equal(got, want) {
		t.Fatalf("LaneReply has fields %v; wire.go decodes %v: teach decodeReply the new ones", got, want)
	}
	for _, tc := range []struct {
		method  string
		request []byte
		timeout time.Duration
	}{
		{"Lease", []byte{0x18, 0x01, 0x20, 0x03}, 0},
		{"Status", nil, 0},
		{"Lease", []byte("x"), 5 * time.Second},
		{"Lease", []byte("x"), 4*time.Second + 999_999_999},
		{"Lease", bytes.Repeat([]byte("y"), 300), 250 * time.Millisecond},
		{"", nil, 1},
	} {
		want := &pb.LaneCall{Method: tc.method, Request: tc.request}
		if tc.timeout != 0 {
			want.Timeout = durationpb.New(tc.timeout)
		}
		wantBytes, err := proto.MarshalOptions{Deterministic: true}.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendCall(nil, tc.method, tc.request, tc.timeout); !bytes.Equal(got, wantBytes) {
			t.Errorf("appendCall(%q, %d bytes, %v) = %x, proto encodes %x", tc.method, len(tc.request), tc.timeout, got, wantBytes)
		}
	}

	for _, want := range []*pb.LaneReply{
		{Response: []byte("resp")},
		{},
		{Code: 7, Message: "denied", Detail: &pb.ErrorDetail{Hint: "run 'hfbroker login'", Kind: pb.ErrorDetail_KIND_LOCKED}},
		{Code: 9, Message: "empty detail", Detail: &pb.ErrorDetail{}},
		{Code: -1, Message: "négatif"},
	} {
		b, err := proto.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		// A newer daemon's field, which the client skips.
		b = protowire.AppendTag(b, 99, protowire.BytesType)
		b = protowire.AppendString(b, "future")
		got, err := decodeReply(b)
		if err != nil {
			t.Fatalf("decodeReply(%v): %v", want, err)
		}
		if !bytes.Equal(got.response, want.GetResponse()) || got.code != want.GetCode() || got.message != want.GetMessage() || got.hasDetail != (want.Detail != nil) {
			t.Errorf("decodeReply(%v) = %+v", want, got)
		}
		if want.Detail != nil {
			d := new(pb.ErrorDetail)
			if err := proto.Unmarshal(got.detail, d); err != nil || !proto.Equal(d, want.Detail) {
				t.Errorf("detail decoded to %v (%v), want %v", d, err, want.Detail)
			}
		}
	}
	if _, err := decodeReply([]byte{0x0a, 0x05, 'x'}); err == nil {
		t.Error("decodeReply accepted a truncated field")
	}
}

func TestReadFrameEndsAsProtodelimDoes(t *testing.T) {
	read := func(s string) error {
		_, err := readFrame(bufio.NewReader(strings.NewReader(s)), nil)
		return err
	}
	if err := read(""); err != io.EOF {
		t.Errorf("empty stream: %v, want EOF", err)
	}
	if err := read("\x85"); err != io.ErrUnexpectedEOF {
		t.Errorf("stream ending inside the size: %v, want unexpected EOF", err)
	}
	if err := read("\x05abc"); err != io.ErrUnexpectedEOF {
		t.Errorf("stream ending inside the frame: %v, want unexpected EOF", err)
	}
	big := protowire.AppendVarint(nil, MaxFrameSize+1)
	if err := read(string(big)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("oversized frame: %v", err)
	}
	b, err := readFrame(bufio.NewReader(strings.NewReader("\x03abcdef")), nil)
	if err != nil || string(b) != "abc" {
		t.Errorf("readFrame = %q, %v", b, err)
	}
}

// Issue 16 (lease p99): the daemon decodes each LaneCall and encodes each
// answer by hand too. Whatever the bytes, DecodeCall must accept what
// proto.Unmarshal accepts, refuse what it refuses, and read the same call.
func TestDecodeCallMatchesProto(t *testing.T) {
	for _, b := range callSamples() {
		checkDecodeCall(t, b)
	}
	for _, resp := range [][]byte{nil, {}, []byte("x"), bytes.Repeat([]byte{0xff}, 300)} {
		want, err := proto.Marshal(&pb.LaneReply{Response: resp})
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendReplyResponse(nil, resp); !bytes.Equal(got, want) {
			t.Errorf("AppendReplyResponse(%x) = %x; proto.Marshal says %x", resp, got, want)
		}
	}
}

func callSamples() [][]byte {
	full, _ := proto.Marshal(&pb.LaneCall{Method: "Lease", Request: []byte("req"), Timeout: durationpb.New(1500 * time.Millisecond)})
	neg, _ := proto.Marshal(&pb.LaneCall{Method: "Status", Timeout: durationpb.New(-time.Second - 5)})
	unknown := protowire.AppendTag(slices.Clone(full), 9, protowire.VarintType)
	unknown = protowire.AppendVarint(unknown, 7)
	wrongType := protowire.AppendTag(nil, callMethod, protowire.VarintType)
	wrongType = protowire.AppendVarint(wrongType, 1)
	twice := append(slices.Clone(full), appendCall(nil, "Renew", []byte("r2"), time.Minute)...)
	badUTF8 := protowire.AppendTag(nil, callMethod, protowire.BytesType)
	badUTF8 = protowire.AppendBytes(badUTF8, []byte{0xff, 'L'})
	emptyTimeout := protowire.AppendTag(nil, callTimeout, protowire.BytesType)
	emptyTimeout = protowire.AppendBytes(emptyTimeout, nil)
	return [][]byte{nil, full, neg, unknown, wrongType, twice, badUTF8, emptyTimeout, full[:len(full)-1], {0x0a, 0x80}}
}

func checkDecodeCall(t *testing.T, b []byte) {
	t.Helper()
	var want pb.LaneCall
	werr := proto.Unmarshal(b, &want)
	got, gerr := DecodeCall(b)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("DecodeCall(%x) error %v; proto.Unmarshal error %v", b, gerr, werr)
	}
	if werr != nil {
		return
	}
	if got.Method != want.GetMethod() || !bytes.Equal(got.Request, want.GetRequest()) || got.HasTimeout != (want.Timeout != nil) ||
		got.TimeoutSeconds != want.GetTimeout().GetSeconds() || got.TimeoutNanos != want.GetTimeout().GetNanos() {
		t.Fatalf("DecodeCall(%x) = %+v; proto.Unmarshal reads %v", b, got, &want)
	}
}

func FuzzDecodeCall(f *testing.F) {
	for _, b := range callSamples() {
		f.Add(b)
	}
	f.Fuzz(checkDecodeCall)
}
