//go:build unix

package front

import (
	"errors"
	"time"
)

// The front's messages, encoded by hand as proto.Marshal would encode them
// (proto/hfbroker/v1: LaneCall, LaneReply, LeaseRequest, LeaseResponse,
// RepoGrant, Repo, ReportGitCredentialRequest/Response). Not even protowire:
// it links protobuf's internal/detrand, which reads the executable at start-up
// (docs/benchmarks-analysis.md, round 3). TestFrontMessagesMatchProto checks
// these against proto and fails when a field is added until this file knows
// it, as internal/client's and internal/lane's codecs do.

// Enum values of broker.proto.
const (
	repoTypeModel   = 1
	repoTypeDataset = 2
	repoTypeSpace   = 3

	accessUnspecified = 0
	accessRead        = 1
	accessWrite       = 2

	purposeExec  = 1
	purposeGit   = 2
	purposeToken = 3
	purposeProxy = 4

	gitOperationStore = 1
	gitOperationErase = 2
)

// Wire types.
const (
	wireVarint = 0
	wireBytes  = 2
)

type repo struct {
	typ int
	id  string
}

type repoGrant struct {
	repo   repo
	access int
}

type leaseRequest struct {
	profile   string
	repo      *repo
	access    int
	purpose   int
	ttl       time.Duration // 0: none sent
	endpoint  string
	untilExit bool
	repos     []repoGrant
	noPublic  bool
}

type timestamp struct {
	seconds int64
	nanos   int32
}

// asTime is timestamppb's AsTime.
func (t *timestamp) asTime() time.Time { return time.Unix(t.seconds, int64(t.nanos)).UTC() }

type leaseResponse struct {
	leaseID, profile, token, user, endpoint, proxyEndpoint, follow string
	expiresAt, tokenExpiresAt                                      *timestamp
	shortenedToToken                                               bool
}

type reportGitCredentialRequest struct {
	operation   int
	fingerprint string
	repo        *repo
	host        string
	// password is git's password, sent for the daemon to fingerprint (the
	// front links no crypto/sha256); the daemon keeps only its fingerprint.
	password string
}

type reportGitCredentialResponse struct {
	known   bool
	profile string
}

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendTag(b []byte, num, typ int) []byte { return appendUvarint(b, uint64(num)<<3|uint64(typ)) }

func appendString(b []byte, num int, s string) []byte {
	if s == "" {
		return b
	}
	b = appendTag(b, num, wireBytes)
	b = appendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytesField(b []byte, num int, m []byte) []byte {
	b = appendTag(b, num, wireBytes)
	b = appendUvarint(b, uint64(len(m)))
	return append(b, m...)
}

func appendVarint(b []byte, num int, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = appendTag(b, num, wireVarint)
	return appendUvarint(b, v)
}

func appendBool(b []byte, num int, v bool) []byte {
	if !v {
		return b
	}
	return appendVarint(b, num, 1)
}

func appendRepo(b []byte, r repo) []byte {
	b = appendVarint(b, 1, uint64(int64(r.typ)))
	return appendString(b, 2, r.id)
}

// appendDuration encodes d as durationpb.New(d) would.
func appendDuration(b []byte, d time.Duration) []byte {
	b = appendVarint(b, 1, uint64(int64(d/time.Second)))
	return appendVarint(b, 2, uint64(int64(int32(d%time.Second))))
}

func (req *leaseRequest) append(b []byte) []byte {
	b = appendString(b, 1, req.profile)
	if req.repo != nil {
		b = appendBytesField(b, 2, appendRepo(nil, *req.repo))
	}
	b = appendVarint(b, 3, uint64(int64(req.access)))
	b = appendVarint(b, 4, uint64(int64(req.purpose)))
	if req.ttl != 0 {
		b = appendBytesField(b, 5, appendDuration(nil, req.ttl))
	}
	b = appendString(b, 6, req.endpoint)
	b = appendBool(b, 8, req.untilExit)
	for _, g := range req.repos {
		gb := appendBytesField(nil, 1, appendRepo(nil, g.repo))
		gb = appendVarint(gb, 2, uint64(int64(g.access)))
		b = appendBytesField(b, 10, gb)
	}
	return appendBool(b, 11, req.noPublic)
}

func (req *reportGitCredentialRequest) append(b []byte) []byte {
	b = appendVarint(b, 1, uint64(int64(req.operation)))
	b = appendString(b, 2, req.fingerprint)
	if req.repo != nil {
		b = appendBytesField(b, 3, appendRepo(nil, *req.repo))
	}
	b = appendString(b, 4, req.host)
	return appendString(b, 5, req.password)
}

// appendCall encodes a LaneCall; timeout 0 sends none.
func appendCall(b []byte, method string, request []byte, timeout time.Duration) []byte {
	b = appendString(b, 1, method)
	if len(request) > 0 {
		b = appendBytesField(b, 2, request)
	}
	if timeout != 0 {
		b = appendBytesField(b, 3, appendDuration(nil, timeout))
	}
	return b
}

var errMalformed = errors.New("malformed message")

func consumeUvarint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		c := b[i]
		if i == 9 && c > 1 {
			return 0, -1
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, i + 1
		}
	}
	return 0, -1
}

// eachField calls field with each varint field's value or each
// length-delimited field's contents, and skips fixed-size fields; it fails on
// groups and on anything malformed.
func eachField(b []byte, field func(num, typ int, v uint64, p []byte)) error {
	for len(b) > 0 {
		tag, n := consumeUvarint(b)
		if n < 0 || tag>>3 == 0 || tag>>3 > 1<<29-1 {
			return errMalformed
		}
		b = b[n:]
		num, typ := int(tag>>3), int(tag&7)
		switch typ {
		case wireVarint:
			v, n := consumeUvarint(b)
			if n < 0 {
				return errMalformed
			}
			field(num, typ, v, nil)
			b = b[n:]
		case wireBytes:
			l, n := consumeUvarint(b)
			if n < 0 || l > uint64(len(b)-n) {
				return errMalformed
			}
			field(num, typ, 0, b[n:n+int(l)])
			b = b[n+int(l):]
		case 1: // fixed64
			if len(b) < 8 {
				return errMalformed
			}
			b = b[8:]
		case 5: // fixed32
			if len(b) < 4 {
				return errMalformed
			}
			b = b[4:]
		default:
			return errMalformed
		}
	}
	return nil
}

// mergeTimestamp decodes a google.protobuf.Timestamp into *ts, merging as
// proto does when the field comes twice.
func mergeTimestamp(ts **timestamp, p []byte) error {
	if *ts == nil {
		*ts = &timestamp{}
	}
	t := *ts
	return eachField(p, func(num, typ int, v uint64, _ []byte) {
		if typ != wireVarint {
			return
		}
		switch num {
		case 1:
			t.seconds = int64(v)
		case 2:
			t.nanos = int32(v)
		}
	})
}

func decodeLeaseResponse(b []byte) (*leaseResponse, error) {
	r := &leaseResponse{}
	var err error
	ferr := eachField(b, func(num, typ int, v uint64, p []byte) {
		if num == 10 && typ == wireVarint {
			r.shortenedToToken = v != 0
			return
		}
		if typ != wireBytes {
			return
		}
		switch num {
		case 1:
			r.leaseID = string(p)
		case 2:
			r.profile = string(p)
		case 3:
			if e := mergeTimestamp(&r.expiresAt, p); e != nil {
				err = e
			}
		case 9:
			if e := mergeTimestamp(&r.tokenExpiresAt, p); e != nil {
				err = e
			}
		case 4:
			r.token = string(p)
		case 5:
			r.user = string(p)
		case 6:
			r.endpoint = string(p)
		case 7:
			r.proxyEndpoint = string(p)
		case 8:
			r.follow = string(p)
		}
	})
	if ferr != nil {
		return nil, ferr
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

func decodeReportGitCredentialResponse(b []byte) (*reportGitCredentialResponse, error) {
	r := &reportGitCredentialResponse{}
	err := eachField(b, func(num, typ int, v uint64, p []byte) {
		switch {
		case num == 1 && typ == wireVarint:
			r.known = v != 0
		case num == 2 && typ == wireBytes:
			r.profile = string(p)
		}
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// laneReply is a decoded LaneReply: the front needs only to know whether the
// call succeeded (anything else goes to the full CLI, which says why).
type laneReply struct {
	response []byte
	failed   bool
}

func decodeLaneReply(b []byte) (laneReply, error) {
	var r laneReply
	var statusErr error
	err := eachField(b, func(num, typ int, v uint64, p []byte) {
		switch {
		case num == 1 && typ == wireBytes:
			r.response = p
		case num == 2 && typ == wireVarint:
			if v != 0 {
				r.failed = true
			}
		case num == 5 && typ == wireBytes:
			// google.rpc.Status: a non-zero code (field 1) is a failure.
			if e := eachField(p, func(num, typ int, v uint64, _ []byte) {
				if num == 1 && typ == wireVarint && v != 0 {
					r.failed = true
				}
			}); e != nil {
				statusErr = e
			}
		}
	})
	if err == nil {
		err = statusErr
	}
	return r, err
}
