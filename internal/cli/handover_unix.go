//go:build unix

package cli

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/hfbroker/hfbroker/internal/fullcli"
	"github.com/hfbroker/hfbroker/internal/lane"
)

// takeHandover takes the daemon's error reply that the front end
// (internal/front) hands over with the call it answers (lane.Handover), so
// that this CLI prints it without making the call again. It removes the
// variable that names the descriptor first, so that no command run from
// here inherits it, and reads only a pipe, 3 or above: the front's. Anything
// else is left alone, and the call is made as usual.
func takeHandover() *lane.Handover {
	v, ok := os.LookupEnv(fullcli.EnvHandover)
	if !ok {
		return nil
	}
	os.Unsetenv(fullcli.EnvHandover)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return nil
	}
	f := os.NewFile(uintptr(fd), "handover")
	defer f.Close()
	h, err := lane.ReadHandover(f)
	if err != nil {
		return nil
	}
	return h
}
