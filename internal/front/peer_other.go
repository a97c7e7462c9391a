//go:build unix && !linux

package front

import "github.com/hfbroker/hfbroker/internal/peercred"

// peerUID is the uid of the process that serves the unix socket fd.
func peerUID(fd int) (int, error) {
	cred, err := peercred.FromFD(fd)
	if err != nil {
		return -1, err
	}
	return int(cred.UID), nil
}
