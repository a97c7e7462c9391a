package cli

import (
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// choiceFlags are the flags every lease-taking command shares: a profile, or
// a repo and whether it will be written.
type choiceFlags struct {
	Profile string
	// Repos are the --repo values (repeatable; NS/* for every repo of a
	// namespace), read, or written with --write; WriteRepos the
	// --write-repo ones, always written.
	Repos      []string
	WriteRepos []string
	RepoType   string
	Write      bool
	// NoPublic: a proxy lease reads only the repos it names.
	NoPublic bool
	TTL      time.Duration
	// UntilExit: the lease ends with the job's processes, not at a TTL
	// (--until-exit, or --ttl 0).
	UntilExit bool
	withTTL   bool
	ttlFlag   *pflag.Flag
}

func (c *choiceFlags) register(cmd *cobra.Command, f *Factory) {
	cmd.Flags().Var(nonEmpty{&c.Profile}, "profile", "use this profile's token")
	cmd.Flags().Var(nonEmptyList{&c.Repos}, "repo", "choose the least-privileged token for this repo: NS/NAME, datasets/NS/NAME, spaces/NS/NAME, or NS/* for all of a namespace (repeatable: one token covers them all)")
	cmd.Flags().Var(nonEmptyList{&c.WriteRepos}, "write-repo", "a repo the job will write to (repeatable; with --repo for the ones it reads)")
	cmd.Flags().Var(nonEmpty{&c.RepoType}, "type", "repo type when --repo has no prefix: model, dataset or space")
	cmd.Flags().BoolVar(&c.Write, "write", false, "the job will write to the --repo repos")
	cmd.MarkFlagsMutuallyExclusive("profile", "repo")
	// The completion asks the daemon only when the shell does.
	_ = cmd.RegisterFlagCompletionFunc("profile", completeProfiles(f))
}

// registerTTL adds --ttl and --until-exit: only exec's lease has a job's
// processes to end with.
func (c *choiceFlags) registerTTL(cmd *cobra.Command) {
	c.withTTL = true
	cmd.Flags().DurationVar(&c.TTL, "ttl", 0, "lease lifetime, e.g. 30m (default from config.toml); 0: until the job exits")
	c.ttlFlag = cmd.Flags().Lookup("ttl")
	cmd.Flags().BoolVar(&c.UntilExit, "until-exit", false, "no lease lifetime: the lease ends when the job's last process exits (at most lease.max_until_exit, 30 days)")
}

func (c *choiceFlags) leaseRequest(endpoint func() (string, error), purpose pb.Purpose) (*pb.LeaseRequest, error) {
	req := &pb.LeaseRequest{Profile: c.Profile, Purpose: purpose, Access: pb.Access_ACCESS_READ}
	if c.Profile != "" {
		if err := checkProfileArg(c.Profile); err != nil {
			return nil, err
		}
	}
	if c.Write {
		if len(c.Repos) == 0 && len(c.WriteRepos) == 0 && c.Profile == "" {
			return nil, errorWithHint(ExitUsage, "add --repo NS/NAME", "--write needs --repo")
		}
		req.Access = pb.Access_ACCESS_WRITE
	}
	if len(c.Repos)+len(c.WriteRepos) == 0 && c.RepoType != "" {
		return nil, errorWithHint(ExitUsage, "add --repo NS/NAME, or drop --type", "--type needs --repo")
	}
	type named struct {
		flag, arg string
		write     bool
	}
	var all []named
	for _, r := range c.Repos {
		all = append(all, named{"--repo", r, c.Write})
	}
	for _, r := range c.WriteRepos {
		all = append(all, named{"--write-repo", r, true})
	}
	for _, n := range all {
		ref, err := parseRepoArg(n.flag, n.arg, c.RepoType)
		if err != nil {
			return nil, err
		}
		pr := &pb.Repo{Type: repoTypeProto(ref.Type.String()), Id: ref.ID()}
		if len(all) == 1 && n.flag == "--repo" && !ref.IsPattern() {
			// One repo: the single-repo fields every daemon reads.
			req.Repo = pr
			break
		}
		a := pb.Access_ACCESS_READ
		if n.write {
			a = pb.Access_ACCESS_WRITE
		}
		req.Repos = append(req.Repos, &pb.RepoGrant{Repo: pr, Access: a})
	}
	for _, g := range req.Repos {
		// The first plain repo goes in the single-repo fields too: a daemon
		// from before repos then leases that one alone (narrower, never
		// wider), and a current one merges it with its entry in repos.
		if !strings.HasSuffix(g.Repo.GetId(), "/*") {
			req.Repo, req.Access = g.Repo, g.Access
			break
		}
	}
	req.NoPublic = c.NoPublic
	if c.withTTL && c.ttlFlag.Changed && c.TTL == 0 {
		c.UntilExit = true
	}
	switch {
	case c.UntilExit && c.TTL != 0:
		return nil, errorWithHint(ExitUsage, "pass either --ttl D or --until-exit", "--until-exit takes no --ttl")
	case c.UntilExit:
		req.UntilExit = true
	case c.withTTL && c.TTL != 0:
		if c.TTL < 0 {
			return nil, errorWithHint(ExitUsage, "pass a positive duration such as 30m, or 0 to end with the job", "--ttl must be positive")
		}
		req.Ttl = durationpb.New(c.TTL)
	}
	if ep, err := endpoint(); err == nil {
		req.Endpoint = ep
	} else {
		return nil, err
	}
	return req, nil
}
