package lane

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
)

// A Handover is a call the front end (internal/front) made and the daemon
// refused, handed to the full CLI that the front then executes: the full
// CLI, making the same call, takes the daemon's reply from here instead of
// asking again. Asking twice logged every refusal twice in the audit log
// (two lease.denied lines for one command) and did the refused work twice.
//
// On the wire it is what went over the socket: the call's frame as the front
// sent it (the magic, the size, the LaneCall) and then the reply's frame as
// the daemon sent it (the magic, the size, the LaneReply).
type Handover struct {
	method  string
	request []byte
	reply   []byte

	mu    sync.Mutex
	taken bool
}

// MaxHandoverSize bounds a handover: what a pipe holds on every system the
// front runs on (macOS's smallest pipe buffer), so that the front's one
// write never waits for a reader that has not started yet. A larger one is
// not handed over, and the full CLI asks again.
const MaxHandoverSize = 16 << 10

// ReadHandover reads a handover from r (at most MaxHandoverSize bytes).
func ReadHandover(r io.Reader) (*Handover, error) {
	br := bufio.NewReader(io.LimitReader(r, MaxHandoverSize))
	frame, err := readMagicFrame(br)
	if err != nil {
		return nil, fmt.Errorf("handover call: %w", err)
	}
	call, err := DecodeCall(frame)
	if err != nil {
		return nil, fmt.Errorf("handover call: %w", err)
	}
	reply, err := readMagicFrame(br)
	if err != nil {
		return nil, fmt.Errorf("handover reply: %w", err)
	}
	if _, err := decodeReply(reply); err != nil {
		return nil, fmt.Errorf("handover reply: %w", err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, errors.New("handover: data after the reply")
	}
	return &Handover{method: call.Method, request: bytes.Clone(call.Request), reply: reply}, nil
}

func readMagicFrame(br *bufio.Reader) ([]byte, error) {
	var head [len(Magic)]byte
	if _, err := io.ReadFull(br, head[:]); err != nil {
		return nil, err
	}
	if string(head[:]) != Magic {
		return nil, errors.New("not a lane frame")
	}
	return readFrame(br, nil)
}

// Take returns the daemon's reply to the handed-over call, once, when
// method and request are that call's; the reply's body goes to Result.
// A nil Handover holds nothing.
func (h *Handover) Take(method string, request []byte) ([]byte, bool) {
	if h == nil {
		return nil, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.taken || method != h.method || !bytes.Equal(request, h.request) {
		return nil, false
	}
	h.taken = true
	return h.reply, true
}
