package testutil

import (
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// FieldNumbers lists m's field numbers in order: the tests of the hand
// encoders (lane, client, front) compare it with the fields they know, so
// that a field added to the .proto fails them until the encoder learns it.
func FieldNumbers(m proto.Message) []protoreflect.FieldNumber {
	var nums []protoreflect.FieldNumber
	fields := m.ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		nums = append(nums, fields.Get(i).Number())
	}
	slices.Sort(nums)
	return nums
}
