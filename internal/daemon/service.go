package daemon

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/hfbroker/hfbroker/internal/service"
)

// newServiceManager builds the service manager for the running executable.
// Tests replace it with a fake; kardianos would otherwise run systemctl or
// launchctl for real.
var newServiceManager = func() (service.Manager, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this executable: %w", err)
	}
	return service.New(exe)
}

// addServiceCommands adds install, uninstall, start, stop, restart and status.
func addServiceCommands(root *cobra.Command, stdout, stderr io.Writer) {
	cmds := []struct {
		use, short string
		run        func(*service.Controller) error
	}{
		{"install", "Install hfbrokerd as a user service (systemd user unit or launchd agent) and start it", (*service.Controller).Install},
		{"uninstall", "Stop the user service and remove its unit", (*service.Controller).Uninstall},
		{"start", "Start the user service", (*service.Controller).Start},
		{"stop", "Stop the user service", (*service.Controller).Stop},
		{"restart", "Restart the user service", (*service.Controller).Restart},
		{"status", "Say whether the user service is running, stopped or not installed", (*service.Controller).Status},
	}
	for _, c := range cmds {
		root.AddCommand(&cobra.Command{
			Use:   c.use,
			Short: c.short,
			Args:  cobra.NoArgs,
			RunE: func(*cobra.Command, []string) error {
				m, err := newServiceManager()
				if err != nil {
					return err
				}
				return c.run(&service.Controller{Manager: m, Out: stdout})
			},
		})
	}
}
