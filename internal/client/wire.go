package client

import (
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// The Lease and ReportGitCredential calls' messages are encoded here by hand, with protowire, as
// proto.Marshal and proto.Unmarshal would: their first reflective use builds
// broker.proto's descriptors and the types' coders, about a millisecond of
// CPU in a CLI process that lives for a few (issue 16). Building and reading
// the generated structs directly costs nothing of the kind.
// TestLeaseMessagesMatchProto fails when a field is added to these messages
// until this file knows it.

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendMessage(b []byte, num protowire.Number, m []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

// appendLeaseRequest appends req's encoding (LeaseRequest in broker.proto).
func appendLeaseRequest(b []byte, req *pb.LeaseRequest) []byte {
	b = appendString(b, 1, req.GetProfile())
	if r := req.GetRepo(); r != nil {
		b = appendMessage(b, 2, appendRepo(nil, r))
	}
	b = appendVarint(b, 3, uint64(int64(req.GetAccess())))
	b = appendVarint(b, 4, uint64(int64(req.GetPurpose())))
	if d := req.GetTtl(); d != nil {
		b = appendMessage(b, 5, appendSecondsNanos(nil, d.GetSeconds(), d.GetNanos()))
	}
	b = appendString(b, 6, req.GetEndpoint())
	b = appendVarint(b, 7, uint64(int64(req.GetPid())))
	if req.GetUntilExit() {
		b = appendVarint(b, 8, 1)
	}
	b = appendString(b, 9, req.GetLabel())
	for _, g := range req.GetRepos() {
		b = appendMessage(b, 10, appendRepoGrant(nil, g))
	}
	if req.GetNoPublic() {
		b = appendVarint(b, 11, 1)
	}
	return b
}

// appendRepoGrant encodes a RepoGrant.
func appendRepoGrant(b []byte, g *pb.RepoGrant) []byte {
	if r := g.GetRepo(); r != nil {
		b = appendMessage(b, 1, appendRepo(nil, r))
	}
	return appendVarint(b, 2, uint64(int64(g.GetAccess())))
}

// appendRepo encodes a Repo.
func appendRepo(b []byte, r *pb.Repo) []byte {
	b = appendVarint(b, 1, uint64(int64(r.GetType())))
	return appendString(b, 2, r.GetId())
}

// appendReportGitCredentialRequest appends req's encoding.
func appendReportGitCredentialRequest(b []byte, req *pb.ReportGitCredentialRequest) []byte {
	b = appendVarint(b, 1, uint64(int64(req.GetOperation())))
	b = appendString(b, 2, req.GetFingerprint())
	if r := req.GetRepo(); r != nil {
		b = appendMessage(b, 3, appendRepo(nil, r))
	}
	b = appendString(b, 4, req.GetHost())
	return appendString(b, 5, req.GetPassword())
}

// decodeReportGitCredentialResponse decodes a ReportGitCredentialResponse,
// skipping fields it does not know.
func decodeReportGitCredentialResponse(b []byte) (*pb.ReportGitCredentialResponse, error) {
	resp := &pb.ReportGitCredentialResponse{}
	err := decodeFields(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		switch {
		case num == 1 && typ == protowire.VarintType:
			x, _ := protowire.ConsumeVarint(v)
			resp.Known = x != 0
		case num == 2 && typ == protowire.BytesType:
			resp.Profile = string(v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// appendSecondsNanos encodes a google.protobuf.Duration or Timestamp.
func appendSecondsNanos(b []byte, secs int64, nanos int32) []byte {
	b = appendVarint(b, 1, uint64(secs))
	return appendVarint(b, 2, uint64(int64(nanos)))
}

// decodeLeaseResponse decodes a LeaseResponse, skipping fields it does not
// know (a newer daemon's).
func decodeLeaseResponse(b []byte) (*pb.LeaseResponse, error) {
	resp := &pb.LeaseResponse{}
	err := decodeFields(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num == 10 && typ == protowire.VarintType {
			x, _ := protowire.ConsumeVarint(v)
			resp.ShortenedToToken = x != 0
			return nil
		}
		if typ != protowire.BytesType {
			return nil // unknown, or not the type proto would read
		}
		switch num {
		case 1:
			resp.LeaseId = string(v)
		case 2:
			resp.Profile = string(v)
		case 3:
			return mergeTimestamp(&resp.ExpiresAt, v)
		case 9:
			return mergeTimestamp(&resp.TokenExpiresAt, v)
		case 4:
			resp.Token = string(v)
		case 5:
			resp.User = string(v)
		case 6:
			resp.Endpoint = string(v)
		case 7:
			resp.ProxyEndpoint = string(v)
		case 8:
			resp.Follow = string(v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// mergeTimestamp decodes a google.protobuf.Timestamp into *ts; an embedded
// message met twice merges, as in proto.
func mergeTimestamp(ts **timestamppb.Timestamp, v []byte) error {
	sn, err := decodeSecondsNanos(v)
	if err != nil {
		return err
	}
	if *ts == nil {
		*ts = &timestamppb.Timestamp{}
	}
	if sn.hasSecs {
		(*ts).Seconds = sn.secs
	}
	if sn.hasNanos {
		(*ts).Nanos = sn.nanos
	}
	return nil
}

// secondsNanos is a decoded google.protobuf.Timestamp or Duration, saying
// which of its fields were present.
type secondsNanos struct {
	secs              int64
	nanos             int32
	hasSecs, hasNanos bool
}

// decodeSecondsNanos decodes a google.protobuf.Timestamp or Duration.
func decodeSecondsNanos(b []byte) (sn secondsNanos, err error) {
	err = decodeFields(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if typ != protowire.VarintType {
			return nil
		}
		x, _ := protowire.ConsumeVarint(v)
		switch num {
		case 1:
			sn.secs, sn.hasSecs = int64(x), true
		case 2:
			sn.nanos, sn.hasNanos = int32(x), true
		}
		return nil
	})
	return sn, err
}

// decodeFields calls field for each length-delimited or varint field of the
// message b, with the field's contents or the varint's encoding, and skips
// fields of other types; it stops at field's first error.
func decodeFields(b []byte, field func(protowire.Number, protowire.Type, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v []byte
		switch typ {
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			_, n = protowire.ConsumeVarint(b)
			if n >= 0 {
				v = b[:n]
			}
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		if typ == protowire.BytesType || typ == protowire.VarintType {
			if err := field(num, typ, v); err != nil {
				return err
			}
		}
		b = b[n:]
	}
	return nil
}
