package lane

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// The lane's envelopes, LaneCall and LaneReply (proto/hfbroker/v1/lane.proto),
// are encoded here by hand, with protowire, not by proto's reflection: the
// first reflective Marshal of a message type builds its whole file's
// descriptors and the type's coder, which costs a CLI process that makes
// one call more than the call (issue 16). TestEnvelopesMatchProto keeps the
// two encodings the same.

// Field numbers of LaneCall, LaneReply and google.protobuf.Duration.
const (
	callMethod    protowire.Number = 1
	callRequest   protowire.Number = 2
	callTimeout   protowire.Number = 3
	replyResponse protowire.Number = 1
	replyCode     protowire.Number = 2
	replyMessage  protowire.Number = 3
	replyDetail   protowire.Number = 4
	replyStatus   protowire.Number = 5
	durSeconds    protowire.Number = 1
	durNanos      protowire.Number = 2
)

// appendCall appends LaneCall{method, request, timeout} (no timeout when
// timeout is 0), as proto.Marshal would encode it.
func appendCall(b []byte, method string, request []byte, timeout time.Duration) []byte {
	if method != "" {
		b = protowire.AppendTag(b, callMethod, protowire.BytesType)
		b = protowire.AppendString(b, method)
	}
	if len(request) > 0 {
		b = protowire.AppendTag(b, callRequest, protowire.BytesType)
		b = protowire.AppendBytes(b, request)
	}
	if timeout != 0 {
		b = protowire.AppendTag(b, callTimeout, protowire.BytesType)
		b = protowire.AppendBytes(b, appendDuration(nil, timeout))
	}
	return b
}

// appendDuration encodes d as a google.protobuf.Duration (durationpb.New).
func appendDuration(b []byte, d time.Duration) []byte {
	secs := int64(d / time.Second)
	nanos := int32(d % time.Second)
	if secs != 0 {
		b = protowire.AppendTag(b, durSeconds, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(secs))
	}
	if nanos != 0 {
		b = protowire.AppendTag(b, durNanos, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(nanos)))
	}
	return b
}

// reply is a decoded LaneReply; detail stays encoded (an ErrorDetail), for
// proto to decode on the error path only.
type reply struct {
	response []byte
	code     int32
	message  string
	detail   []byte
	// hasDetail: the reply carried a detail, perhaps an empty one.
	hasDetail bool
	// status is the encoded google.rpc.Status, for proto on the error path.
	status    []byte
	hasStatus bool
}

// decodeReply decodes a LaneReply, skipping fields it does not know (a newer
// daemon's); a repeated field's last value wins, as in proto.
func decodeReply(b []byte) (reply, error) {
	var r reply
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return reply{}, protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == replyResponse && typ == protowire.BytesType:
			r.response, n = protowire.ConsumeBytes(b)
		case num == replyCode && typ == protowire.VarintType:
			var v uint64
			v, n = protowire.ConsumeVarint(b)
			r.code = int32(v)
		case num == replyMessage && typ == protowire.BytesType:
			var v []byte
			v, n = protowire.ConsumeBytes(b)
			r.message = string(v)
		case num == replyDetail && typ == protowire.BytesType:
			// Embedded messages merge; the daemon sends one.
			var v []byte
			v, n = protowire.ConsumeBytes(b)
			r.detail, r.hasDetail = append(r.detail, v...), true
		case num == replyStatus && typ == protowire.BytesType:
			var v []byte
			v, n = protowire.ConsumeBytes(b)
			r.status, r.hasStatus = append(r.status, v...), true
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return reply{}, protowire.ParseError(n)
		}
		b = b[n:]
	}
	return r, nil
}

// errFrameTooLarge is a frame whose size prefix is over MaxFrameSize.
type errFrameTooLarge struct{ size uint64 }

func (e errFrameTooLarge) Error() string {
	return fmt.Sprintf("reply of %d bytes is over the %d-byte limit", e.size, MaxFrameSize)
}

// readFrame reads one size-delimited frame into buf (grown as needed), as
// protodelim does: io.EOF when the stream ends before the frame starts,
// io.ErrUnexpectedEOF when it ends inside it.
func readFrame(r *bufio.Reader, buf []byte) ([]byte, error) {
	var size uint64
	for i := 0; ; i++ {
		c, err := r.ReadByte()
		if err != nil {
			if i > 0 && errors.Is(err, io.EOF) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if i == 9 && c > 1 {
			return nil, errors.New("reply size is not a varint")
		}
		size |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			break
		}
	}
	if size > MaxFrameSize {
		return nil, errFrameTooLarge{size}
	}
	if uint64(cap(buf)) < size {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// Call is a decoded LaneCall, for the daemon's half (laneserver). Request
// aliases the frame it was decoded from.
type Call struct {
	Method  string
	Request []byte
	// HasTimeout says the call carried a timeout, perhaps an empty one;
	// TimeoutSeconds and TimeoutNanos are its google.protobuf.Duration.
	HasTimeout     bool
	TimeoutSeconds int64
	TimeoutNanos   int32
}

// DecodeCall decodes a LaneCall as proto.Unmarshal does (unknown fields
// skipped, the last value of a field winning, embedded messages merged, a
// method that is not UTF-8 refused), without reflection: the daemon decodes
// one per call (issue 16). TestDecodeCallMatchesProto holds it to proto.
func DecodeCall(b []byte) (Call, error) {
	var c Call
	var timeout []byte
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return Call{}, protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == callMethod && typ == protowire.BytesType:
			var v []byte
			v, n = protowire.ConsumeBytes(b)
			if n >= 0 && !utf8.Valid(v) {
				return Call{}, errors.New("lane call: method is not valid UTF-8")
			}
			c.Method = string(v)
		case num == callRequest && typ == protowire.BytesType:
			c.Request, n = protowire.ConsumeBytes(b)
		case num == callTimeout && typ == protowire.BytesType:
			var v []byte
			v, n = protowire.ConsumeBytes(b)
			timeout, c.HasTimeout = append(timeout, v...), true
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return Call{}, protowire.ParseError(n)
		}
		b = b[n:]
	}
	for len(timeout) > 0 {
		num, typ, n := consumeTag(timeout)
		if n < 0 {
			return Call{}, protowire.ParseError(n)
		}
		timeout = timeout[n:]
		switch {
		case num == durSeconds && typ == protowire.VarintType:
			var v uint64
			v, n = protowire.ConsumeVarint(timeout)
			c.TimeoutSeconds = int64(v)
		case num == durNanos && typ == protowire.VarintType:
			var v uint64
			v, n = protowire.ConsumeVarint(timeout)
			c.TimeoutNanos = int32(v)
		default:
			n = protowire.ConsumeFieldValue(num, typ, timeout)
		}
		if n < 0 {
			return Call{}, protowire.ParseError(n)
		}
		timeout = timeout[n:]
	}
	return c, nil
}

// AppendReplyResponse appends LaneReply{response}, a call's answer, as
// proto.Marshal would encode it.
func AppendReplyResponse(b, response []byte) []byte {
	if len(response) > 0 {
		b = protowire.AppendTag(b, replyResponse, protowire.BytesType)
		b = protowire.AppendBytes(b, response)
	}
	return b
}

// ReadCallFrame reads one size-delimited LaneCall of at most MaxFrameSize
// into buf (grown as needed), as protodelim does.
func ReadCallFrame(r *bufio.Reader, buf []byte) ([]byte, error) { return readFrame(r, buf) }

// consumeTag is protowire.ConsumeTag refusing, as proto.Unmarshal does, a
// field number above the largest valid one.
func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	num, typ, n := protowire.ConsumeTag(b)
	if n >= 0 && num > protowire.MaxValidNumber {
		return 0, 0, -1
	}
	return num, typ, n
}
