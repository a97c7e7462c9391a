package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hfbroker/hfbroker/internal/hubapi"
	"github.com/hfbroker/hfbroker/internal/profilename"
	"github.com/hfbroker/hfbroker/internal/scan"
)

// repoHint is the hint for a repo argument that is not one.
const repoHint = "name the repo as NAMESPACE/NAME, e.g. acme/llm, datasets/acme/data or spaces/acme/demo"

// parseRepoArg reads a repo the user typed (what names the flag or argument
// in the error) with the Hub's rules, checked here so that a typo is a
// usage error (exit 2) before any daemon is asked. typ is --type: "" for a
// model unless the repo has a models/, datasets/ or spaces/ prefix, which
// must then agree with it.
func parseRepoArg(what, s, typ string) (hubapi.RepoRef, error) {
	def := hubapi.RepoModel
	if typ != "" {
		t, err := hubapi.ParseRepoType(typ)
		if err != nil || strings.HasSuffix(typ, "s") {
			return hubapi.RepoRef{}, errorWithHint(ExitUsage, "use --type model, dataset or space", "unknown repo type %q", clipArg(typ))
		}
		def = t
	}
	parse := hubapi.ParseRepo
	if what == "--repo" || what == "--write-repo" {
		parse = hubapi.ParseRepoPattern // a lease may name "ns/*"
	}
	ref, err := parse(s, def)
	if err != nil {
		return hubapi.RepoRef{}, errorWithHint(ExitUsage, repoHint, "%s: %v", what, err)
	}
	if typ != "" && ref.Type != def {
		return hubapi.RepoRef{}, errorWithHint(ExitUsage, "drop --type, or the prefix",
			"%s %q is a %s, but --type says %s", what, clipArg(s), ref.Type, def)
	}
	return ref, nil
}

// clipArg bounds user input quoted back in an error message.
func clipArg(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

// maxLeaseIDLen bounds a lease id on the command line; the daemon's are
// much shorter ("l-" and 16 hex digits).
const maxLeaseIDLen = 64

// checkLeaseID refuses what cannot be a lease id (the daemon decides
// whether a well-formed one is live).
func checkLeaseID(id string) error {
	ok := id != "" && len(id) <= maxLeaseIDLen
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
	}
	if !ok {
		return errorWithHint(ExitUsage, "run 'hfbroker leases' to see the ids of live leases", "%s is not a lease id", fmt.Sprintf("%q", clipArg(id)))
	}
	return nil
}

// profileArgHint is the hint for a profile name that cannot be one.
const profileArgHint = "profile names use letters, digits and - _ . @; 'hfbroker list' shows yours"

// checkNameIsNoToken refuses a name for a new profile that holds a token:
// the token given to --name by mistake was stored under itself, and so kept
// in clear as the profile's name (profiles.json, the audit log, 'hfbroker
// list'). The error does not quote the name. The daemon checks the rest.
func checkNameIsNoToken(name string) error {
	if len(scan.Find([]byte(name))) > 0 {
		return errorWithHint(ExitUsage, "pipe the token on standard input or paste it at the prompt; --name takes a label such as 'acme-ci'",
			"--name looks like a token, not a profile name")
	}
	return nil
}

// checkProfileArg refuses a profile name the user typed that no profile can
// have (the daemon decides whether a well-formed one exists).
func checkProfileArg(name string) error {
	if err := profilename.Check(name); err != nil {
		return errorWithHint(ExitUsage, profileArgHint, "%v", err)
	}
	return nil
}

// nonEmpty is a string flag that refuses "": `--repo "$REPO"` with REPO
// unset must not quietly mean "no repo" (and so the default profile's
// token).
type nonEmpty struct{ p *string }

func (v nonEmpty) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

func (v nonEmpty) Set(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	*v.p = s
	return nil
}

func (v nonEmpty) Type() string { return "string" }

// nonEmptyList is a repeatable flag whose values must not be empty.
type nonEmptyList struct{ p *[]string }

func (v nonEmptyList) String() string {
	if v.p == nil {
		return ""
	}
	return strings.Join(*v.p, ",")
}

func (v nonEmptyList) Set(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	*v.p = append(*v.p, s)
	return nil
}

func (v nonEmptyList) Type() string { return "stringArray" }
