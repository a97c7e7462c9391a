//go:build unix

package frontrecord

import (
	"errors"
	"syscall"
)

// Lookup is the front end's question: the endpoint config.toml at
// configPath sets ("" for none), and whether it may answer without the
// full CLI. ok is true when there is no config.toml (config.Load's empty
// config), or when the record at recordPath is uid's own (ReadRecord) and
// was made from exactly the file and the bytes now at configPath. Like
// config.Load it follows a symlink: a dangling one is no file.
//
// The endpoint is the record's, verbatim: the caller must check it is a Hub
// endpoint (hubapi.NormalizeEndpoint(ep) == ep) before sending a token
// there, and hand over to the full CLI if it is not.
func Lookup(configPath, recordPath string, uid int) (endpoint string, ok bool) {
	id, content, err := readConfig(configPath)
	if err == syscall.ENOENT {
		return "", true
	}
	if err != nil {
		return "", false
	}
	r, err := ReadRecord(recordPath, uid)
	if err != nil || !r.Matches(id, content) {
		return "", false
	}
	return r.Endpoint, true
}

// ReadRecord reads and decodes the record at path only if it is uid's: a
// regular file, not a symlink, owned by uid, writable by no one else.
// Anyone who could write it could choose the Hub the front sends tokens to.
// A record that is not, or does not decode, is ErrBadRecord; a record that
// cannot be opened is the open's error (syscall.ENOENT when there is none).
func ReadRecord(path string, uid int) (Record, error) {
	var st syscall.Stat_t
	b, err := readFile(path, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC|syscall.O_NONBLOCK, &st, maxRecord, func() error {
		switch {
		case st.Mode&syscall.S_IFMT != syscall.S_IFREG,
			int64(st.Uid) != int64(uid),
			st.Mode&0o022 != 0,
			st.Size > maxRecord:
			return ErrBadRecord
		}
		return nil
	})
	if err != nil {
		if err == syscall.ELOOP { // O_NOFOLLOW met a symlink
			err = ErrBadRecord
		}
		return Record{}, err
	}
	return Decode(b)
}

// FileIdentity is the identity of the file st describes.
func FileIdentity(st *syscall.Stat_t) Identity {
	return Identity{
		Dev: uint64(st.Dev), Ino: uint64(st.Ino), Size: st.Size,
		Mtime: mtime(st), Ctime: ctime(st),
	}
}

// errNotRecordable is a config.toml no record can match: not a regular
// file, or larger than MaxContent.
var errNotRecordable = errors.New("config.toml is not a regular file of at most 16 KiB")

// readConfig reads config.toml and the identity of the very file it read.
// O_NONBLOCK: a FIFO put there must not hang the open (and fstat refuses
// it before any read).
func readConfig(path string) (Identity, []byte, error) {
	var st syscall.Stat_t
	b, err := readFile(path, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NONBLOCK, &st, MaxContent, func() error {
		if st.Mode&syscall.S_IFMT != syscall.S_IFREG || st.Size > MaxContent {
			return errNotRecordable
		}
		return nil
	})
	if err != nil {
		return Identity{}, nil, err
	}
	return FileIdentity(&st), b, nil
}

// readFile opens path with flags (O_NONBLOCK: a FIFO put there must not
// hang the open), fstats it into st, lets check refuse it, and reads at
// most limit+1 bytes. Errors are the bare errno: the front only asks
// whether the file is missing. Raw descriptors, not os.File: this package
// links no os, and an os.File of a regular file is offered to the
// runtime's poller, whose set-up the front does without
// (docs/benchmarks-analysis.md, round 5).
func readFile(path string, flags int, st *syscall.Stat_t, limit int, check func() error) ([]byte, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(path, flags, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	if err := syscall.Fstat(fd, st); err != nil {
		return nil, err
	}
	if err := check(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, min(int(st.Size), limit)+1)
	for len(b) <= limit {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := syscall.Read(fd, b[len(b):min(cap(b), limit+1)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return b, nil
		}
		b = b[:len(b)+n]
	}
	return b, nil
}
