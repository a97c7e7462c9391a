//go:build linux

package main

import (
	"encoding/binary"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// callfloor asks for what `hfbroker token --profile NAME` asks for.
func TestLeaseFrameIsTokensCall(t *testing.T) {
	f := leaseFrame("bench", "http://127.0.0.1:9")
	if string(f[:4]) != "HFL1" {
		t.Fatalf("no magic: %q", f)
	}
	size, k := binary.Uvarint(f[4:])
	if k <= 0 || int(size) != len(f)-4-k {
		t.Fatalf("size prefix %d (%d bytes) for %d bytes", size, k, len(f)-4-k)
	}
	var call pb.LaneCall
	if err := proto.Unmarshal(f[4+k:], &call); err != nil || call.GetMethod() != "Lease" {
		t.Fatalf("LaneCall %v, %v", &call, err)
	}
	var req pb.LeaseRequest
	if err := proto.Unmarshal(call.GetRequest(), &req); err != nil {
		t.Fatal(err)
	}
	want := &pb.LeaseRequest{Profile: "bench", Access: pb.Access_ACCESS_READ, Purpose: pb.Purpose_PURPOSE_TOKEN, Endpoint: "http://127.0.0.1:9"}
	if !proto.Equal(&req, want) {
		t.Errorf("request %v, want %v", &req, want)
	}
}
