//go:build unix

package front

import (
	"bytes"
	"errors"
	"syscall"
	"testing"
)

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

// os.Stdout ends a process whose reader has gone with SIGPIPE, silently;
// the front, which writes with syscall, ends so too, and says any other
// failure.
func TestPrintTokenToAGoneReaderEndsSilently(t *testing.T) {
	var stderr bytes.Buffer
	f := &frontCall{stdout: failingWriter{syscall.EPIPE}, stderr: &stderr}
	if code := f.printToken("hf_secret"); code != exitBrokenPipe || stderr.Len() != 0 {
		t.Errorf("broken pipe: exit %d, stderr %q; want %d and nothing", code, stderr.String(), exitBrokenPipe)
	}
	f.stdout = failingWriter{errors.New("no space left on device")}
	if code := f.printToken("hf_secret"); code != 1 || stderr.String() != "hfbroker: error: no space left on device\n" {
		t.Errorf("other failure: exit %d, stderr %q", code, stderr.String())
	}
	var out bytes.Buffer
	f.stdout = &out
	if code := f.printToken("hf_secret"); code != 0 || out.String() != "hf_secret\n" {
		t.Errorf("exit %d, stdout %q", code, out.String())
	}
}
