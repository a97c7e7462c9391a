//go:build unix

package front

import (
	"io"
	"strconv"
	"syscall"
)

// openFile is syscall.Open, again after EINTR.
func openFile(path string, flags int) (int, error) {
	for {
		fd, err := syscall.Open(path, flags, 0)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}

// writeAll writes b to fd whole.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := syscall.Write(fd, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// fdWriter writes to a descriptor the process inherited: 1 or 2, as
// os.Stdout and os.Stderr do.
type fdWriter int

func (w fdWriter) Write(b []byte) (int, error) {
	if err := writeAll(int(w), b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// emit writes the strings to w as one write, as fmt.Fprint(w, …) does.
func emit(w io.Writer, s ...string) error {
	n := 0
	for _, x := range s {
		n += len(x)
	}
	b := make([]byte, 0, n)
	for _, x := range s {
		b = append(b, x...)
	}
	_, err := w.Write(b)
	return err
}

// stdinReader reads fd 0.
type stdinReader struct{}

func (stdinReader) Read(p []byte) (int, error) { return readFD(0, p) }

// readFD is one read of fd, again after EINTR, with io.EOF at the end.
func readFD(fd int, p []byte) (int, error) {
	for {
		n, err := syscall.Read(fd, p)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return 0, err
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// stdinCopy returns a descriptor that reads b from its start, for what the
// front read of a stdin too large for a pipe's buffer: a file of ours in
// $TMPDIR (or /tmp), unlinked at once, as os.CreateTemp and os.Remove would.
func stdinCopy(b []byte) (int, error) {
	dir := getenv("TMPDIR")
	if dir == "" {
		dir = "/tmp"
	}
	prefix := dir + "/hfbroker-stdin-" + strconv.Itoa(syscall.Getpid()) + "-"
	for i := 0; ; i++ {
		name := prefix + strconv.Itoa(i)
		fd, err := syscall.Open(name, syscall.O_RDWR|syscall.O_CREAT|syscall.O_EXCL|syscall.O_CLOEXEC|syscall.O_NOFOLLOW, 0o600)
		if (err == syscall.EEXIST || err == syscall.EINTR) && i < 100 {
			continue
		}
		if err != nil {
			return -1, err
		}
		syscall.Unlink(name)
		if err := writeAll(fd, b); err != nil {
			syscall.Close(fd)
			return -1, err
		}
		if _, err := syscall.Seek(fd, 0, 0); err != nil {
			syscall.Close(fd)
			return -1, err
		}
		return fd, nil
	}
}
