//go:build unix

package frontconfig

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/hfbroker/hfbroker/internal/atomicfile"
)

// Lookup is the front end's question: the endpoint config.toml at
// configPath sets ("" for none), and whether it may answer without the
// full CLI. ok is true when there is no config.toml (config.Load's empty
// config), or when the record at recordPath was made from exactly the file
// and content now at configPath. Like config.Load it follows a symlink: a
// dangling one is no file.
func Lookup(configPath, recordPath string) (endpoint string, ok bool) {
	id, content, err := readConfig(configPath)
	if errors.Is(err, fs.ErrNotExist) {
		return "", true
	}
	if err != nil {
		return "", false
	}
	r, err := readRecord(recordPath, os.Geteuid())
	if err != nil || !r.Matches(id, content) {
		return "", false
	}
	return r.Endpoint, true
}

// Remember is the full CLI's part, after config.Load parsed content from
// configPath: it records the endpoint for the front, unless the record at
// recordPath says so already. It is best effort (the front hands over
// without a record), and it records nothing it cannot tie to the file: the
// identity is the file's now, and the front also checks the content's hash,
// so a file changed since it was read never matches.
func Remember(configPath, recordPath string, content []byte, endpoint string) error {
	if len(content) > MaxConfigSize {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Stat(configPath, &st); err != nil {
		return err
	}
	r := NewRecord(identity(&st), content, endpoint)
	if old, err := readRecord(recordPath, os.Geteuid()); err == nil && old == r {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(recordPath), 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFile(recordPath, r.Encode(), 0o600)
}

func identity(st *unix.Stat_t) Identity {
	return Identity{
		Dev: uint64(st.Dev), Ino: uint64(st.Ino), Size: st.Size,
		Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano(),
	}
}

// readConfig reads config.toml and the identity of the very file it read.
func readConfig(path string) (Identity, []byte, error) {
	var st unix.Stat_t
	b, err := readFile(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, &st, MaxConfigSize, func() error {
		if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size > MaxConfigSize {
			return errors.New("config.toml is not a regular file of at most 1 MiB")
		}
		return nil
	})
	if err != nil {
		return Identity{}, nil, err
	}
	return identity(&st), b, nil
}

// readRecord reads the record only if it is ours: a regular file, not a
// symlink, owned by uid, writable by no one else. Anyone who could write
// it could choose the Hub the front sends tokens to.
func readRecord(path string, uid int) (Record, error) {
	var st unix.Stat_t
	b, err := readFile(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, &st, maxRecord, func() error {
		switch {
		case st.Mode&unix.S_IFMT != unix.S_IFREG,
			int64(st.Uid) != int64(uid),
			st.Mode&0o022 != 0,
			st.Size > maxRecord:
			return ErrBadRecord
		}
		return nil
	})
	if err != nil {
		return Record{}, err
	}
	return Decode(b)
}

// readFile opens path with flags (O_NONBLOCK: a FIFO put there must not
// hang the open), fstats it into st, lets check refuse it, and reads at
// most limit+1 bytes. Raw descriptors, not os.File: an os.File of a
// regular file is offered to the runtime's poller, whose set-up the front
// does without (docs/benchmarks-analysis.md, round 5).
func readFile(path string, flags int, st *unix.Stat_t, limit int, check func() error) ([]byte, error) {
	var fd int
	var err error
	for {
		fd, err = unix.Open(path, flags, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Fstat(fd, st); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if err := check(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, min(int(st.Size), limit)+1)
	for len(b) <= limit {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := unix.Read(fd, b[len(b):min(cap(b), limit+1)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return b, nil
		}
		b = b[:len(b)+n]
	}
	return b, nil
}
