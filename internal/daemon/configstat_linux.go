package daemon

import (
	"io/fs"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// statPath is a path ready for statKeyOf: NUL-terminated once, so that the
// check before every call allocates nothing (os.Stat converts the path and
// builds a FileInfo each time: three allocations).
type statPath []byte

func newStatPath(path string) statPath { return append([]byte(path), 0) }

// statKeyOf stats p (following a symlink, as os.Stat does): one
// newfstatat, as os.Stat makes. ok is false for an error other than the
// file not existing.
func statKeyOf(p statPath) (k statKey, ok bool) {
	var st unix.Stat_t
	dirfd := unix.AT_FDCWD
	_, _, errno := unix.Syscall6(unix.SYS_NEWFSTATAT, uintptr(dirfd), uintptr(unsafe.Pointer(&p[0])), uintptr(unsafe.Pointer(&st)), 0, 0, 0)
	switch errno {
	case 0:
	case unix.ENOENT:
		return statKey{}, true
	default:
		return statKey{}, false
	}
	return statKey{exists: true, dev: uint64(st.Dev), ino: st.Ino, size: st.Size, mtime: st.Mtim.Nano()}, true
}

// fileKey is statKeyOf's key for what os.Stat returned.
func fileKey(fi fs.FileInfo) statKey {
	if fi == nil {
		return statKey{}
	}
	k := statKey{exists: true, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		k.dev, k.ino = uint64(st.Dev), st.Ino
	}
	return k
}
