package daemon

import (
	"io"

	"github.com/spf13/cobra"
)

// addServiceCommands adds install, uninstall, start, stop, restart and status.
func addServiceCommands(root *cobra.Command, stdout, stderr io.Writer) {}
