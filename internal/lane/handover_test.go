package lane

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/code"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// handoverBytes is what the front hands over: the call's frame as sent, the
// reply's frame as received.
func handoverBytes(t *testing.T, method string, request, reply []byte) []byte {
	t.Helper()
	call := appendCall(nil, method, request, 0)
	b := append([]byte(Magic), protowire.AppendVarint(nil, uint64(len(call)))...)
	b = append(b, call...)
	b = append(b, Magic...)
	b = protowire.AppendVarint(b, uint64(len(reply)))
	return append(b, reply...)
}

// deniedReply is a LaneReply carrying the status the daemon sends for a
// refused lease.
func deniedReply(t *testing.T) []byte {
	t.Helper()
	d, err := anypb.New(&pb.ErrorDetail{Hint: "run 'hfbroker list' to see your profiles"})
	if err != nil {
		t.Fatal(err)
	}
	st := &spb.Status{Code: int32(code.Code_NOT_FOUND), Message: `no profile named "nosuch"`, Details: []*anypb.Any{d}}
	r, err := proto.Marshal(&pb.LaneReply{Code: int32(code.Code_NOT_FOUND), Message: `no profile named "nosuch"`, Status: st})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAHandedOverReplyAnswersTheSameCallOnce(t *testing.T) {
	req := []byte("\x0a\x06nosuch")
	h, err := ReadHandover(bytes.NewReader(handoverBytes(t, "Lease", req, deniedReply(t))))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := h.Take("Token", req); ok {
		t.Error("another method took the handed-over reply")
	}
	if _, ok := h.Take("Lease", []byte("\x0a\x06laptop")); ok {
		t.Error("another request took the handed-over reply")
	}
	raw, ok := h.Take("Lease", req)
	if !ok {
		t.Fatal("the same call did not take the handed-over reply")
	}
	_, err = Result("Lease", raw)
	var e *Error
	if !errors.As(err, &e) || e.Code != code.Code_NOT_FOUND || e.Message != `no profile named "nosuch"` || e.Detail.GetHint() != "run 'hfbroker list' to see your profiles" {
		t.Errorf("Result = %v (%#v), want the daemon's NotFound with its hint", err, e)
	}
	if _, ok := h.Take("Lease", req); ok {
		t.Error("the handed-over reply answered a second call: a command that asks twice must reach the daemon the second time")
	}
	var none *Handover
	if _, ok := none.Take("Lease", req); ok {
		t.Error("a nil Handover answered")
	}
}

func TestAResponseReplyIsHandedOverToo(t *testing.T) {
	h, err := ReadHandover(bytes.NewReader(handoverBytes(t, "Status", nil, AppendReplyResponse(nil, []byte("\x08\x01")))))
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := h.Take("Status", nil)
	if !ok {
		t.Fatal("not taken")
	}
	if out, err := Result("Status", raw); err != nil || string(out) != "\x08\x01" {
		t.Errorf("Result = %q, %v", out, err)
	}
}

func TestABadHandoverIsRefused(t *testing.T) {
	good := handoverBytes(t, "Lease", []byte("x"), deniedReply(t))
	for name, b := range map[string][]byte{
		"empty":                 nil,
		"no magic":              good[len(Magic):],
		"call cut short":        good[:len(Magic)+3],
		"no reply":              good[:bytes.LastIndex(good, []byte(Magic))],
		"reply cut short":       good[:len(good)-1],
		"data after it":         append(bytes.Clone(good), 0),
		"reply not a LaneReply": handoverBytes(t, "Lease", nil, []byte{0xff}),
		"over the bound":        handoverBytes(t, "Lease", bytes.Repeat([]byte("a"), MaxHandoverSize), deniedReply(t)),
	} {
		if _, err := ReadHandover(strings.NewReader(string(b))); err == nil {
			t.Errorf("%s: ReadHandover accepted it", name)
		}
	}
}
