package daemon

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hfbroker/hfbroker/internal/atomicfile"
)

// The proxy's book of ended lease tokens (tokenBook.gone) outlives a
// restart: 'hfbroker scan' reports a kernel's lease token in a saved
// notebook as ended and harmless for endedTokenTTL (README, Notebooks), and
// a reboot or an upgrade must not turn it into "not a stored profile" that
// fails a pre-commit hook. The book is written once, when the daemon stops,
// and read when the next one starts: rewriting it with every lease, as
// leases.json is, would cost a proxy grant tens of milliseconds once it
// is full. A daemon that is killed loses only what ended in its lifetime.
// It holds lease ids, labels and 32-bit fingerprints, never a token.

const (
	endedTokensName = "ended-tokens.json"
	// maxEndedTokensBytes bounds what a daemon reads back (4,096 entries
	// of at most about 400 bytes).
	maxEndedTokensBytes = 2 << 20
)

type endedTokensFile struct {
	Ended []savedEndedToken `json:"ended_tokens"`
}

// savedEndedToken is an ended lease's token: its fingerprint, never the token.
type savedEndedToken struct {
	LeaseID     string    `json:"lease_id"`
	Fingerprint string    `json:"token_fingerprint"`
	Label       string    `json:"label,omitempty"`
	EndedAt     time.Time `json:"ended_at"`
}

// readEndedTokens reads the book a previous daemon left; a missing file
// gives nil, and one that is not a private regular file of uid's, too large
// or corrupt is ignored with a log line (scan then treats those tokens as
// unknown, nothing else).
func readEndedTokens(path string, uid int, log *slog.Logger) []savedEndedToken {
	f, err := openStateFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	ignore := func(why string) []savedEndedToken {
		log.Warn("ended lease tokens ignored: "+why, "path", path)
		return nil
	}
	if err != nil {
		return ignore("cannot open it")
	}
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil || !fi.Mode().IsRegular():
		return ignore("not a regular file")
	case statePermsMeaningful && fi.Mode().Perm()&0o077 != 0:
		return ignore("group or others may read or write it")
	case fi.Size() > maxEndedTokensBytes:
		return ignore("too large")
	}
	if owner, ok := fileOwner(fi); ok && owner != uid {
		return ignore("owned by another user")
	}
	data, err := io.ReadAll(io.LimitReader(f, maxEndedTokensBytes+1))
	if err != nil {
		return ignore("cannot read it")
	}
	var st endedTokensFile
	if err := json.Unmarshal(data, &st); err != nil {
		return ignore("corrupt or truncated")
	}
	return st.Ended
}

// writeEndedTokens saves the book for the next daemon.
func writeEndedTokens(path string, ended []savedEndedToken, log *slog.Logger) {
	if ended == nil {
		ended = []savedEndedToken{}
	}
	data, err := json.Marshal(endedTokensFile{Ended: ended})
	if err == nil {
		if err = os.MkdirAll(filepath.Dir(path), 0o700); err == nil {
			err = atomicfile.WriteFile(path, data, 0o600)
		}
	}
	if err != nil {
		log.Warn("cannot save the ended lease tokens; scan will not know them after the restart", "err", err)
	}
}
