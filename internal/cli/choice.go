package cli

import (
	"strings"
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

func (c *choiceFlags) register(cmd *cobra.Command, f *Factory) {
	cmd.Flags().StringVar(&c.Profile, "profile", "", "use this profile's token")
	cmd.Flags().StringVar(&c.Repo, "repo", "", "choose the least-privileged token for this repo: NS/NAME, datasets/NS/NAME or spaces/NS/NAME")
	cmd.Flags().StringVar(&c.RepoType, "type", "", "repo type when --repo has no prefix: model, dataset or space")
	cmd.Flags().BoolVar(&c.Write, "write", false, "the job will write to the repo")
	cmd.MarkFlagsMutuallyExclusive("profile", "repo")
	// The completion asks the daemon only when the shell does.
	_ = cmd.RegisterFlagCompletionFunc("profile", completeProfiles(f))
}

func (c *choiceFlags) registerTTL(cmd *cobra.Command) {
	c.withTTL = true
	cmd.Flags().DurationVar(&c.TTL, "ttl", 0, "lease lifetime, e.g. 30m (default from config.toml)")
}

func (c *choiceFlags) leaseRequest(f *Factory, purpose pb.Purpose) (*pb.LeaseRequest, error) {
	req := &pb.LeaseRequest{Profile: c.Profile, Purpose: purpose, Access: pb.Access_ACCESS_READ}
	if c.Write {
		if c.Repo == "" && c.Profile == "" {
			return nil, errorWithHint(ExitUsage, "add --repo NS/NAME", "--write needs --repo")
		}
		req.Access = pb.Access_ACCESS_WRITE
	}
	if c.Repo != "" {
		t := pb.RepoType_REPO_TYPE_MODEL
		id := c.Repo
		switch {
		case strings.HasPrefix(id, "datasets/"):
			t, id = pb.RepoType_REPO_TYPE_DATASET, strings.TrimPrefix(id, "datasets/")
		case strings.HasPrefix(id, "spaces/"):
			t, id = pb.RepoType_REPO_TYPE_SPACE, strings.TrimPrefix(id, "spaces/")
		case strings.HasPrefix(id, "models/"):
			id = strings.TrimPrefix(id, "models/")
		}
		switch c.RepoType {
		case "", "model":
		case "dataset":
			t = pb.RepoType_REPO_TYPE_DATASET
		case "space":
			t = pb.RepoType_REPO_TYPE_SPACE
		default:
			return nil, errorWithHint(ExitUsage, "use --type model, dataset or space", "unknown repo type %q", c.RepoType)
		}
		req.Repo = &pb.Repo{Type: t, Id: id}
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
