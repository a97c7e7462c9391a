//go:build unix

package frontconfig

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/hfbroker/hfbroker/internal/atomicfile"
	"github.com/hfbroker/hfbroker/internal/frontconfig/frontrecord"
	"github.com/hfbroker/hfbroker/internal/hubapi"
)

// validEndpoint reports whether ep is a record's endpoint: none, or a
// normalised Hub endpoint.
func validEndpoint(ep string) bool {
	if ep == "" {
		return true
	}
	n, err := hubapi.NormalizeEndpoint(ep)
	return err == nil && n == ep
}

// Remember is the full CLI's part, after config.Load parsed content from
// configPath: it records the endpoint for the front, unless the record at
// recordPath says so already. It is best effort (the front hands over
// without a record), and it records nothing it cannot tie to the file: the
// identity is the file's now, and the front also compares the content, so
// a file changed since it was read never matches. A config.toml larger
// than frontrecord.MaxContent is not recorded, and a record of an earlier
// config.toml is removed: the front hands such a file to the full CLI.
func Remember(configPath, recordPath string, content []byte, endpoint string) error {
	if len(content) > frontrecord.MaxContent {
		if err := os.Remove(recordPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	if !validEndpoint(endpoint) {
		// Not shown: an endpoint refused for its user info holds a secret.
		return errors.New("record config.toml for the front end: the endpoint is not a normalised Hub endpoint")
	}
	var st syscall.Stat_t
	if err := syscall.Stat(configPath, &st); err != nil {
		return &fs.PathError{Op: "stat", Path: configPath, Err: err}
	}
	if st.Size != int64(len(content)) {
		// Changed since config.Load read it: no record could match.
		return nil
	}
	r := frontrecord.Record{File: frontrecord.FileIdentity(&st), Endpoint: endpoint, Content: string(content)}
	if old, err := frontrecord.ReadRecord(recordPath, os.Geteuid()); err == nil && old == r {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(recordPath), 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFile(recordPath, r.Encode(), 0o600)
}
