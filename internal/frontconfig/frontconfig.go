// Package frontconfig is the hfbroker front end's cache of config.toml
// (issue 16): the full CLI, which links toml, records what the front needs
// from the file it has loaded, the Hub endpoint, beside that file's identity
// and content hash; the front, which links no toml, uses the record while
// config.toml is still that file with that content, and otherwise hands
// over to the full CLI as it does without one.
//
// The record is one line of our own format, versioned, with a single
// spelling of each value (Decode refuses anything Encode would not write):
//
//	hfbroker-front-config v1 DEV INO SIZE MTIME_NS CTIME_NS SHA256 ENDPOINT
//
// ENDPOINT is the normalised endpoint config.toml sets, "-" when it sets none.
//
// Both the identity (device, inode, size, mtime and ctime in ns) and the
// hash must match. The identity alone is not enough: file timestamps tick
// with the kernel's coarse clock (a few ms), so a same-size edit just after
// the full CLI read the file can keep every stat field; the hash of what
// the front reads is exact. The identity keeps the record bound to one file
// (a config.toml replaced by a copy, or a symlink pointed elsewhere, is
// another file).
package frontconfig

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hfbroker/hfbroker/internal/hubapi"
	"github.com/hfbroker/hfbroker/internal/xdg"
)

// FileName is the record's name in hfbroker's state directory: per user
// (the directory is 0700), kept across reboots (so the first call after one
// is served by the front), and present where XDG_RUNTIME_DIR is not (ssh
// without logind, containers).
const FileName = "front-config"

// magic and version start the line; a record of another version is
// refused, as a future format may mean something else.
const (
	magic   = "hfbroker-front-config"
	version = "v1"
)

// maxRecord bounds what Decode and the reader accept: a record is about 200
// bytes.
const maxRecord = 4096

// MaxConfigSize is config.Parse's limit: a larger config.toml is an error
// the full CLI reports, never recorded.
const MaxConfigSize = 1 << 20

// Path is the record's path.
func Path(p xdg.Paths) string { return filepath.Join(p.StateDir, FileName) }

// Identity names one version of a file as stat sees it. Ctime cannot be set
// by a user (touch sets mtime only), so an edit that restores size and mtime
// still changes it.
type Identity struct {
	Dev, Ino     uint64
	Size         int64
	Mtime, Ctime int64 // ns since the epoch
}

// Record is what the full CLI read from config.toml.
type Record struct {
	File Identity
	// Sum is the SHA-256 of the bytes the full CLI parsed.
	Sum [sha256.Size]byte
	// Endpoint is the config's endpoint, normalised; empty when config.toml
	// sets none.
	Endpoint string
}

// NewRecord records content, read from the file with identity id, whose
// endpoint (already normalised by config.Parse) is endpoint.
func NewRecord(id Identity, content []byte, endpoint string) Record {
	return Record{File: id, Sum: sha256.Sum256(content), Endpoint: endpoint}
}

// Matches reports whether the record was made from content read from id.
func (r Record) Matches(id Identity, content []byte) bool {
	return r.File == id && r.Sum == sha256.Sum256(content)
}

// Encode writes the record's one line.
func (r Record) Encode() []byte {
	ep := r.Endpoint
	if ep == "" {
		ep = "-"
	}
	var b bytes.Buffer
	b.WriteString(magic + " " + version)
	for _, n := range []uint64{r.File.Dev, r.File.Ino} {
		b.WriteByte(' ')
		b.WriteString(strconv.FormatUint(n, 10))
	}
	for _, n := range []int64{r.File.Size, r.File.Mtime, r.File.Ctime} {
		b.WriteByte(' ')
		b.WriteString(strconv.FormatInt(n, 10))
	}
	b.WriteByte(' ')
	b.WriteString(hex.EncodeToString(r.Sum[:]))
	b.WriteByte(' ')
	b.WriteString(ep)
	b.WriteByte('\n')
	return b.Bytes()
}

// ErrBadRecord is any record Decode refuses.
var ErrBadRecord = errors.New("not a front-config record")

// Decode parses one record. It accepts exactly what Encode writes: the
// version it knows, canonical numbers, a normalised endpoint, one newline.
func Decode(b []byte) (Record, error) {
	var r Record
	if len(b) > maxRecord || !bytes.HasSuffix(b, []byte("\n")) {
		return r, ErrBadRecord
	}
	f := strings.Split(string(b[:len(b)-1]), " ")
	if len(f) != 9 || f[0] != magic {
		return r, ErrBadRecord
	}
	if f[1] != version {
		return r, fmt.Errorf("%w: version %.10q", ErrBadRecord, f[1])
	}
	var err error
	u := func(s string) uint64 {
		n, e := strconv.ParseUint(s, 10, 64)
		err = errors.Join(err, e)
		return n
	}
	i := func(s string) int64 {
		n, e := strconv.ParseInt(s, 10, 64)
		err = errors.Join(err, e)
		return n
	}
	r.File = Identity{Dev: u(f[2]), Ino: u(f[3]), Size: i(f[4]), Mtime: i(f[5]), Ctime: i(f[6])}
	if err != nil {
		return Record{}, ErrBadRecord
	}
	// Length first: hex.Decode panics when the text is longer than dst.
	if len(f[7]) != 2*sha256.Size {
		return Record{}, ErrBadRecord
	}
	if n, e := hex.Decode(r.Sum[:], []byte(f[7])); e != nil || n != sha256.Size {
		return Record{}, ErrBadRecord
	}
	if f[8] != "-" {
		ep, e := hubapi.NormalizeEndpoint(f[8])
		if e != nil || ep != f[8] {
			return Record{}, ErrBadRecord
		}
		r.Endpoint = ep
	}
	// One spelling per value: "+1", "01", upper-case hex are someone
	// else's writing.
	if !bytes.Equal(r.Encode(), b) {
		return Record{}, ErrBadRecord
	}
	return r, nil
}
