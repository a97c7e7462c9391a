package cli

import (
	"context"
	"fmt"
	"io"

	pb "github.com/hfbroker/hfbroker/proto/hfbroker/v1"
)

// openVault unlocks the file vault, or creates it when the daemon says there
// is none yet: then the passphrase is a new one (asked twice on a terminal,
// at least minPassphraseLen characters unless allowShort), and only then is
// the daemon allowed to create (UnlockRequest.create). The passphrase comes
// from file when set, else from p; errOut is where a person at the terminal
// is told that a new vault is being made.
func openVault(ctx context.Context, p Prompter, errOut io.Writer, api Daemon, file string, allowShort bool) (*pb.UnlockResponse, error) {
	st, err := api.Status(ctx, &pb.StatusRequest{})
	if err != nil {
		return nil, err
	}
	return openVaultAs(ctx, p, errOut, api, st, file, allowShort)
}

// openVaultAs is openVault for a caller that already has the daemon's status.
func openVaultAs(ctx context.Context, p Prompter, errOut io.Writer, api Daemon, st *pb.StatusResponse, file string, allowShort bool) (*pb.UnlockResponse, error) {
	if st.GetBackend() != "file" {
		// No passphrase to ask for; the daemon says why in its own words.
		return api.Unlock(ctx, &pb.UnlockRequest{})
	}
	create := !st.GetVaultExists()
	var (
		pass []byte
		err  error
	)
	if create {
		if file == "" && p.IsTerminal() {
			fmt.Fprintf(errOut, "No vault yet: choose a passphrase for the new one at %s.\n", st.GetVaultPath())
		}
		pass, err = readNewPassphrase(p, file, allowShort)
	} else {
		pass, err = readPassphraseFrom(p, file, "Vault passphrase: ")
	}
	if err != nil {
		return nil, err
	}
	defer clear(pass)
	return api.Unlock(ctx, &pb.UnlockRequest{Passphrase: pass, Create: create})
}
