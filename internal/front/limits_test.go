//go:build unix

package front

import (
	"testing"

	"github.com/hfbroker/hfbroker/internal/lane"
)

// The front keeps its own copies of the lane's bounds (it links no
// protobuf, so not internal/lane): they must not drift apart. A handover
// larger than what the full CLI reads would be cut and refused there.
func TestTheFrontsBoundsAreTheLanes(t *testing.T) {
	if maxFrame != lane.MaxFrameSize {
		t.Errorf("maxFrame = %d, lane.MaxFrameSize = %d", maxFrame, lane.MaxFrameSize)
	}
	if maxHandover != lane.MaxHandoverSize {
		t.Errorf("maxHandover = %d, lane.MaxHandoverSize = %d", maxHandover, lane.MaxHandoverSize)
	}
}
