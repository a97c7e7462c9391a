package lane

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"time"

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
