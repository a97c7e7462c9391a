//go:build unix

package front

import (
	"strings"
	"time"

	"github.com/hfbroker/hfbroker/internal/profilename"
)

// choice is internal/cli's choiceFlags, for the forms the front accepts.
type choice struct {
	profile          string
	repos, writeRepo []string
	write            bool
	// exec's only:
	ttl       time.Duration
	ttlSet    bool
	untilExit bool
	proxy     bool
	noPublic  bool
	withTTL   bool
}

// parse reads the flags the front knows, as pflag would, and returns the
// arguments after them; any other form is an error (the full CLI's to
// judge). exec stops at its first argument that is not a flag
// (SetInterspersed(false)); token takes none.
func (c *choice) parse(args []string, isExec, interspersed bool) ([]string, error) {
	c.withTTL = isExec
	seen := map[string]bool{}
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			if !isExec {
				return nil, errFallback
			}
			return append(rest, args[i+1:]...), nil
		}
		if !strings.HasPrefix(a, "--") {
			if strings.HasPrefix(a, "-") {
				return nil, errFallback // shorthands (-h), or "-"
			}
			if !interspersed {
				if isExec {
					return append(rest, args[i:]...), nil
				}
				return nil, errFallback
			}
			rest = append(rest, a)
			continue
		}
		name, value, hasValue := strings.Cut(a[2:], "=")
		if seen[name] {
			return nil, errFallback // pflag's last-wins is the full CLI's
		}
		seen[name] = true
		takeValue := func() (string, error) {
			if hasValue {
				return value, nil
			}
			if i+1 >= len(args) {
				return "", errFallback
			}
			i++
			return args[i], nil
		}
		switch name {
		case "profile", "repo", "write-repo", "ttl":
			v, err := takeValue()
			if err != nil || v == "" {
				return nil, errFallback
			}
			switch name {
			case "profile":
				c.profile = v
			case "repo":
				c.repos = append(c.repos, v)
				seen[name] = false // repeatable
			case "write-repo":
				c.writeRepo = append(c.writeRepo, v)
				seen[name] = false
			case "ttl":
				if !isExec {
					return nil, errFallback
				}
				d, err := time.ParseDuration(v)
				if err != nil {
					return nil, errFallback
				}
				c.ttl, c.ttlSet = d, true
			}
		case "write", "until-exit", "proxy", "no-public":
			if hasValue || !isExec && name != "write" {
				return nil, errFallback
			}
			switch name {
			case "write":
				c.write = true
			case "until-exit":
				c.untilExit = true
			case "proxy":
				c.proxy = true
			case "no-public":
				c.noPublic = true
			}
		default:
			return nil, errFallback
		}
	}
	return rest, nil
}

// leaseRequest is choiceFlags.leaseRequest: what it would refuse is
// errFallback.
func (c *choice) leaseRequest(purpose int) (*leaseRequest, error) {
	if c.profile != "" && len(c.repos) > 0 {
		return nil, errFallback // cobra: mutually exclusive
	}
	req := &leaseRequest{profile: c.profile, purpose: purpose, access: accessRead}
	if c.profile != "" && profilename.Check(c.profile) != nil {
		return nil, errFallback
	}
	if c.write {
		if len(c.repos) == 0 && len(c.writeRepo) == 0 && c.profile == "" {
			return nil, errFallback
		}
		req.access = accessWrite
	}
	type named struct {
		flag, arg string
		write     bool
	}
	var all []named
	for _, r := range c.repos {
		all = append(all, named{"--repo", r, c.write})
	}
	for _, r := range c.writeRepo {
		all = append(all, named{"--write-repo", r, true})
	}
	for _, n := range all {
		pr, pattern, ok := parseRepoPattern(n.arg)
		if !ok {
			return nil, errFallback
		}
		if len(all) == 1 && n.flag == "--repo" && !pattern {
			req.repo = &pr
			break
		}
		a := accessRead
		if n.write {
			a = accessWrite
		}
		req.repos = append(req.repos, repoGrant{repo: pr, access: a})
	}
	for _, g := range req.repos {
		if !strings.HasSuffix(g.repo.id, "/*") {
			r := g.repo
			req.repo, req.access = &r, g.access
			break
		}
	}
	req.noPublic = c.noPublic
	if c.withTTL && c.ttlSet && c.ttl == 0 {
		c.untilExit = true
	}
	switch {
	case c.untilExit && c.ttl != 0:
		return nil, errFallback
	case c.untilExit:
		req.untilExit = true
	case c.withTTL && c.ttl != 0:
		if c.ttl < 0 {
			return nil, errFallback
		}
		req.ttl = c.ttl
	}
	h, err := endpoint()
	if err != nil {
		return nil, err
	}
	req.endpoint = h.url
	return req, nil
}
