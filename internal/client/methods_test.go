package client

import (
	"reflect"
	"testing"

	"github.com/hfbroker/hfbroker/proto/hfbroker/v1/hfbrokerv1grpc"
)

// TestClientHasEveryRPC keeps methods.go in step with the service: every
// BrokerService RPC has a Client method of the same name taking and
// returning the generated client's message types, and nothing else is
// exported as an RPC.
func TestClientHasEveryRPC(t *testing.T) {
	grpcClient := reflect.TypeFor[hfbrokerv1grpc.BrokerServiceClient]()
	ours := reflect.TypeFor[*Client]()
	for _, md := range hfbrokerv1grpc.BrokerService_ServiceDesc.Methods {
		want, ok := grpcClient.MethodByName(md.MethodName)
		if !ok {
			t.Fatalf("the gRPC client has no %s", md.MethodName)
		}
		got, ok := ours.MethodByName(md.MethodName)
		if !ok {
			t.Errorf("client.Client has no %s method; add it to methods.go", md.MethodName)
			continue
		}
		// got has the receiver first; want (an interface method) does not.
		if got.Type.NumIn() != 3 || got.Type.In(1) != want.Type.In(0) || got.Type.In(2) != want.Type.In(1) ||
			got.Type.NumOut() != 2 || got.Type.Out(0) != want.Type.Out(0) {
			t.Errorf("client.Client.%s is %v; want it to take %v, %v and return %v", md.MethodName, got.Type, want.Type.In(0), want.Type.In(1), want.Type.Out(0))
		}
	}
	if len(hfbrokerv1grpc.BrokerService_ServiceDesc.Streams) != 0 {
		t.Error("the service has streaming RPCs, which the lane does not carry")
	}
}
