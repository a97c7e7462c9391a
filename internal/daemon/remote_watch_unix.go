//go:build unix

package daemon

import (
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// watch calls exited once pid has exited (through a pidfd in the runtime's
// poller; polling on kernels without pidfds), unless stop comes first.
func (fw *forwards) watch(pid int, exited func()) (stop func(), err error) {
	done := make(chan struct{})
	var once sync.Once
	stop = func() { once.Do(func() { close(done) }) }
	fd, perr := openPidfd(pid)
	fw.wg.Add(1)
	if perr != nil {
		go func() {
			defer fw.wg.Done()
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					if unix.Kill(pid, 0) == unix.ESRCH {
						exited()
						return
					}
				}
			}
		}()
		return stop, nil
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		fw.wg.Done()
		return nil, err
	}
	go func() {
		<-done
		f.Close() // wakes the Read below with an error
	}()
	go func() {
		defer fw.wg.Done()
		rerr := rc.Read(func(fd uintptr) bool {
			// A pidfd is readable once its process has exited.
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, _ := unix.Poll(fds, 0)
			return n > 0
		})
		select {
		case <-done:
			return
		default:
		}
		if rerr == nil {
			exited()
		}
		stop()
	}()
	return stop, nil
}
