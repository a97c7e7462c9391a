package socket

import (
	"os"

	"golang.org/x/sys/unix"
)

// watchDir tells, through inotify, when a name in dir is created, removed or
// renamed: the kernel wakes the daemon when its socket may have changed,
// instead of a poll waking it every few seconds for nothing. The channel
// yields at most one pending event and is closed when stop is called or
// inotify fails.
func watchDir(dir string) (changes <-chan struct{}, stop func(), err error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, nil, err
	}
	const mask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
		unix.IN_DELETE_SELF | unix.IN_MOVE_SELF
	if _, err := unix.InotifyAddWatch(fd, dir, mask); err != nil {
		unix.Close(fd)
		return nil, nil, err
	}
	// A non-blocking descriptor joins Go's poller: the reader below parks
	// without holding a thread, and Close wakes it.
	f := os.NewFile(uintptr(fd), "inotify:"+dir)
	ch := make(chan struct{}, 1)
	go func() {
		defer close(ch)
		buf := make([]byte, 4096)
		for {
			if _, err := f.Read(buf); err != nil {
				return
			}
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}()
	return ch, func() { f.Close() }, nil
}
