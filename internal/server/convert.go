package server

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hfbroker/hfbroker/internal/broker"
	"github.com/hfbroker/hfbroker/internal/hubapi"
	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

func profileProto(p broker.Profile, def string) *pb.Profile {
	out := &pb.Profile{
		Name:        p.Name,
		Endpoint:    p.Endpoint,
		AddedAt:     timestamppb.New(p.AddedAt),
		Fingerprint: p.Fingerprint,
		Default:     p.Name == def,
		User:        p.User(),
		TokenRole:   p.TokenRole(),
		DisplayName: p.DisplayName(),
	}
	if !p.VerifiedAt.IsZero() {
		out.VerifiedAt = timestamppb.New(p.VerifiedAt)
	}
	out.Oauth, out.NeedsLogin, out.Rejected = p.OAuth, p.NeedsLogin, p.Rejected
	if !p.ExpiresAt.IsZero() {
		out.ExpiresAt = timestamppb.New(p.ExpiresAt)
	}
	return out
}

func whoamiProto(p broker.Profile, def string) *pb.WhoamiResponse {
	out := &pb.WhoamiResponse{Profile: profileProto(p, def)}
	w := p.Whoami
	if w == nil {
		return out
	}
	out.User, out.Fullname = w.Name, w.Fullname
	for _, o := range w.Orgs {
		out.Orgs = append(out.Orgs, &pb.Org{Name: o.Name, Role: o.RoleInOrg, SecurityRestrictions: o.SecurityRestrictions})
	}
	if at := w.Auth.AccessToken; at != nil {
		out.TokenRole, out.TokenDisplayName = at.Role, at.DisplayName
		if fg := at.FineGrained; fg != nil {
			for _, s := range fg.Scoped {
				out.Scopes = append(out.Scopes, &pb.Scope{EntityType: s.Entity.Type, EntityName: s.Entity.Name, Permissions: s.Permissions})
			}
			out.GlobalPermissions = fg.Global
			out.CanReadGatedRepos = fg.CanReadGatedRepos
		}
	}
	if w.Auth.ExpiresAt != nil {
		out.ExpiresAt = timestamppb.New(*w.Auth.ExpiresAt)
	}
	if !p.VerifiedAt.IsZero() {
		out.FetchedAt = timestamppb.New(p.VerifiedAt)
	}
	return out
}

func leaseProto(l broker.Lease) *pb.Lease {
	out := &pb.Lease{
		Id:          l.ID,
		Profile:     l.Profile,
		Pid:         int32(l.PID),
		Executable:  l.Exe,
		Repo:        repoProto(l.Repo),
		Access:      accessProto(l.Access),
		Purpose:     purposeProto(l.Purpose),
		GrantedAt:   timestamppb.New(l.GrantedAt),
		ExpiresAt:   timestamppb.New(l.ExpiresAt),
		Fingerprint: l.Fingerprint,
		Follow:      string(l.Follow),
		TreeSize:    int32(len(l.Processes)),
		UntilExit:   l.UntilExit,
		Label:       l.Label,
	}
	for _, pid := range l.Processes {
		out.Pids = append(out.Pids, int32(pid))
	}
	for _, g := range l.Repos {
		out.Repos = append(out.Repos, &pb.RepoGrant{Repo: repoProto(&g.Repo), Access: accessProto(accessOrRead(g.Access))})
	}
	out.Public = l.Public
	return out
}

func repoProto(r *hubapi.RepoRef) *pb.Repo {
	if r == nil {
		return nil
	}
	t := pb.RepoType_REPO_TYPE_MODEL
	switch r.Type {
	case hubapi.RepoDataset:
		t = pb.RepoType_REPO_TYPE_DATASET
	case hubapi.RepoSpace:
		t = pb.RepoType_REPO_TYPE_SPACE
	}
	return &pb.Repo{Type: t, Id: r.Namespace + "/" + r.Name}
}

func repoTypeFromProto(t pb.RepoType) hubapi.RepoType {
	switch t {
	case pb.RepoType_REPO_TYPE_DATASET:
		return hubapi.RepoDataset
	case pb.RepoType_REPO_TYPE_SPACE:
		return hubapi.RepoSpace
	}
	return hubapi.RepoModel
}

func accessProto(a broker.Access) pb.Access {
	switch a {
	case broker.AccessRead:
		return pb.Access_ACCESS_READ
	case broker.AccessWrite:
		return pb.Access_ACCESS_WRITE
	}
	return pb.Access_ACCESS_UNSPECIFIED
}

func purposeProto(p broker.Purpose) pb.Purpose {
	switch p {
	case broker.PurposeExec:
		return pb.Purpose_PURPOSE_EXEC
	case broker.PurposeGit:
		return pb.Purpose_PURPOSE_GIT
	case broker.PurposeToken:
		return pb.Purpose_PURPOSE_TOKEN
	case broker.PurposeProxy:
		return pb.Purpose_PURPOSE_PROXY
	}
	return pb.Purpose_PURPOSE_UNSPECIFIED
}

func accessOrRead(a broker.Access) broker.Access {
	if a == 0 {
		return broker.AccessRead
	}
	return a
}
