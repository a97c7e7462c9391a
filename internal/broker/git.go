package broker

import "github.com/hfbroker/hfbroker/internal/audit"

// GitReport is git's store or erase, as the credential helper saw it.
type GitReport struct {
	Erase       bool
	Fingerprint string
	Repo        string
	Host        string
	Caller      Caller
}

// ReportGit records a git store or erase. It never touches the token store:
// git sends erase after any 401 (a private repo this token cannot see, a
// revoked token, a typo in the URL), and a failed push must not log anyone
// out. An erase marks the matching token's Hub metadata stale, so the next
// choice re-checks it with the Hub. It returns the profile the fingerprint
// belongs to, "" when none.
func (b *Broker) ReportGit(r GitReport) (string, error) {
	ev := audit.Event{Event: "git.store", Fingerprint: r.Fingerprint, Repo: r.Repo, Purpose: string(PurposeGit)}
	if r.Erase {
		ev.Event = "git.erase"
	}
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	b.mu.Lock()
	var name string
	for _, p := range b.profiles {
		if r.Fingerprint != "" && p.Fingerprint == r.Fingerprint {
			name = p.Name
			if r.Erase && !p.Stale {
				upd := *p
				upd.Stale = true
				b.profiles[p.Name] = &upd
			}
		}
	}
	var err error
	if name != "" && r.Erase {
		err = b.saveLocked()
	}
	b.mu.Unlock()
	ev.Profile = name
	b.audit(ev, r.Caller)
	return name, err
}
