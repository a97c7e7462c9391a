package cli

import (
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// choiceFlags are the flags every lease-taking command shares: a profile, or
// a repo and whether it will be written.
type choiceFlags struct {
	Profile  string
	Repo     string
	RepoType string
	Write    bool
	TTL      time.Duration
	withTTL  bool
}

func (c *choiceFlags) register(cmd *cobra.Command) {
	cmd.Flags().Var(nonEmpty{&c.Profile}, "profile", "use this profile's token")
	cmd.Flags().Var(nonEmpty{&c.Repo}, "repo", "choose the least-privileged token for this repo: NS/NAME, datasets/NS/NAME or spaces/NS/NAME")
	cmd.Flags().Var(nonEmpty{&c.RepoType}, "type", "repo type when --repo has no prefix: model, dataset or space")
	cmd.Flags().BoolVar(&c.Write, "write", false, "the job will write to the repo")
	cmd.MarkFlagsMutuallyExclusive("profile", "repo")
}

func (c *choiceFlags) registerTTL(cmd *cobra.Command) {
	c.withTTL = true
	cmd.Flags().DurationVar(&c.TTL, "ttl", 0, "lease lifetime, e.g. 30m (default from config.toml)")
}

func (c *choiceFlags) leaseRequest(f *Factory, purpose pb.Purpose) (*pb.LeaseRequest, error) {
	req := &pb.LeaseRequest{Profile: c.Profile, Purpose: purpose, Access: pb.Access_ACCESS_READ}
	if c.Profile != "" {
		if err := checkProfileArg(c.Profile); err != nil {
			return nil, err
		}
	}
	if c.Write {
		if c.Repo == "" && c.Profile == "" {
			return nil, errorWithHint(ExitUsage, "add --repo NS/NAME", "--write needs --repo")
		}
		req.Access = pb.Access_ACCESS_WRITE
	}
	if c.Repo != "" {
		ref, err := parseRepoArg("--repo", c.Repo, c.RepoType)
		if err != nil {
			return nil, err
		}
		req.Repo = &pb.Repo{Type: repoTypeProto(ref.Type.String()), Id: ref.ID()}
	} else if c.RepoType != "" {
		return nil, errorWithHint(ExitUsage, "add --repo NS/NAME, or drop --type", "--type needs --repo")
	}
	if c.withTTL && c.TTL != 0 {
		if c.TTL < 0 {
			return nil, errorWithHint(ExitUsage, "pass a positive duration such as 30m", "--ttl must be positive")
		}
		req.Ttl = durationpb.New(c.TTL)
	}
	if ep, err := f.Endpoint(); err == nil {
		req.Endpoint = ep
	} else {
		return nil, err
	}
	return req, nil
}
