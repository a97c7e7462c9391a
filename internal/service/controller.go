package service

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	kservice "github.com/kardianos/service"
)

// Error is a failure with a hint naming what to do about it; hfbrokerd
// prints it as "hfbrokerd: error: …" and "hfbrokerd: hint: …".
type Error struct {
	Err      error
	HintText string
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Hint says what to do about the error.
func (e *Error) Hint() string { return e.HintText }

// ErrNotInstalled means the service's unit is not installed.
var ErrNotInstalled = errors.New("the hfbrokerd service is not installed")

// Controller runs the user-facing service commands on a Manager and says
// what happened on Out.
type Controller struct {
	Manager Manager
	Out     io.Writer
	// Getenv reads the environment for hints; nil means os.Getenv.
	Getenv func(string) string
}

func (c *Controller) getenv(k string) string {
	if c.Getenv != nil {
		return c.Getenv(k)
	}
	return os.Getenv(k)
}

// unit returns the unit file path and wanted content, or ErrUnsupported with
// a hint when this machine cannot run a user service.
func (c *Controller) unit() (string, []byte, error) {
	path, want, ok, err := c.Manager.UnitFile()
	if err != nil {
		return "", nil, err
	}
	if !ok {
		return "", nil, c.unsupported()
	}
	return path, want, nil
}

func (c *Controller) unsupported() error {
	err := ErrUnsupported
	if p := c.Manager.Platform(); p != "" {
		err = fmt.Errorf("%w (found %s)", ErrUnsupported, p)
	}
	return &Error{Err: err, HintText: "run 'hfbrokerd' from your shell profile, or let hfbroker start it on demand (it does by default)"}
}

// fail wraps a service manager error with the platform's way to look closer.
// kardianos drops systemctl's stderr, so the error itself is only an exit
// status; the hint has to carry the diagnosis.
func (c *Controller) fail(what string, err error) error {
	err = fmt.Errorf("%s: %w", what, err)
	switch c.Manager.Platform() {
	case PlatformSystemd:
		if c.getenv("XDG_RUNTIME_DIR") == "" && c.getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
			return &Error{Err: err, HintText: "systemctl --user needs your login session (XDG_RUNTIME_DIR is unset, as under su or sudo): log in as this user, or run 'loginctl enable-linger $USER' and log in again"}
		}
		return &Error{Err: err, HintText: "run 'systemctl --user status " + Name + "' and 'journalctl --user -u " + Name + "' to see why"}
	case PlatformLaunchd:
		return &Error{Err: err, HintText: "run 'launchctl print gui/$(id -u)/" + LaunchdLabel + "' to see why"}
	}
	return err
}

// Install installs the service and starts it. It is idempotent: an
// installed unit that matches what this executable would write is left
// alone; one that differs (another path, an older hfbrokerd) is replaced.
func (c *Controller) Install() error {
	path, want, err := c.unit()
	if err != nil {
		return err
	}
	replaced := false
	if err := c.Manager.Install(); err != nil {
		have, rerr := os.ReadFile(path)
		if rerr != nil || !strings.Contains(err.Error(), "Init already exists") {
			// Install writes the unit before enabling it; remove a unit we
			// just wrote so that a retry after fixing the cause starts
			// clean instead of finding a unit that was never enabled.
			if rerr == nil {
				os.Remove(path)
			}
			return c.fail("install", err)
		}
		if bytes.Equal(have, want) {
			fmt.Fprintf(c.Out, "already installed: %s (unchanged)\n", path)
			return c.ensureRunning()
		}
		// Stop first: systemd's uninstall only disables, and a daemon left
		// running would keep the old unit's settings.
		_ = c.Manager.Stop()
		if err := c.Manager.Uninstall(); err != nil {
			return c.fail("remove the outdated unit "+path, err)
		}
		if err := c.Manager.Install(); err != nil {
			return c.fail("install", err)
		}
		replaced = true
	}
	if replaced {
		fmt.Fprintf(c.Out, "replaced %s (it differed from the unit for this hfbrokerd)\n", path)
	} else {
		fmt.Fprintf(c.Out, "installed %s\n", path)
	}
	if err := c.Manager.Start(); err != nil {
		return c.fail("start", err)
	}
	c.started()
	return nil
}

func (c *Controller) ensureRunning() error {
	st, err := c.Manager.Status()
	if err == nil && st == kservice.StatusRunning {
		fmt.Fprintln(c.Out, "hfbrokerd service: running")
		return nil
	}
	if err := c.Manager.Start(); err != nil {
		return c.fail("start", err)
	}
	c.started()
	return nil
}

func (c *Controller) started() {
	switch c.Manager.Platform() {
	case PlatformSystemd:
		fmt.Fprintln(c.Out, "started hfbrokerd (systemd user service; logs: journalctl --user -u "+Name+")")
		fmt.Fprintln(c.Out, "note: the user manager stops when your last session ends; on a machine you reach without a login session (a server over ssh), 'loginctl enable-linger $USER' keeps hfbrokerd running")
	case PlatformLaunchd:
		fmt.Fprintln(c.Out, "started hfbrokerd (launchd agent "+LaunchdLabel+"; it starts again at login)")
	default:
		fmt.Fprintln(c.Out, "started hfbrokerd")
	}
}

// Uninstall stops the service and removes its unit. Nothing installed is
// not an error.
func (c *Controller) Uninstall() error {
	path, _, err := c.unit()
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(c.Out, "not installed: %s does not exist\n", path)
		return nil
	}
	// systemd's uninstall disables without stopping; a stop error only
	// means it was not running.
	_ = c.Manager.Stop()
	if err := c.Manager.Uninstall(); err != nil {
		return c.fail("uninstall", err)
	}
	fmt.Fprintf(c.Out, "removed %s\n", path)
	return nil
}

// Start starts the installed service.
func (c *Controller) Start() error { return c.control("start", c.Manager.Start, "started") }

// Stop stops the service.
func (c *Controller) Stop() error { return c.control("stop", c.Manager.Stop, "stopped") }

// Restart restarts the service (and starts it if it was stopped).
func (c *Controller) Restart() error {
	if err := c.requireInstalled(); err != nil {
		return err
	}
	restart := c.Manager.Restart
	if c.Manager.Platform() == PlatformLaunchd {
		// kardianos's launchd restart is unload+load, and unload fails
		// when the agent is not loaded.
		if st, err := c.Manager.Status(); err == nil && st != kservice.StatusRunning {
			restart = c.Manager.Start
		}
	}
	if err := restart(); err != nil {
		return c.fail("restart", err)
	}
	fmt.Fprintln(c.Out, "restarted hfbrokerd")
	return nil
}

func (c *Controller) control(what string, op func() error, done string) error {
	if err := c.requireInstalled(); err != nil {
		return err
	}
	if err := op(); err != nil {
		return c.fail(what, err)
	}
	fmt.Fprintln(c.Out, done+" hfbrokerd")
	return nil
}

func (c *Controller) requireInstalled() error {
	if _, _, err := c.unit(); err != nil {
		return err
	}
	if _, err := c.Manager.Status(); errors.Is(err, kservice.ErrNotInstalled) {
		return &Error{Err: ErrNotInstalled, HintText: "run 'hfbrokerd install'"}
	}
	return nil
}

// Status prints whether the service is running, stopped or not installed.
// None of the three is an error; an unreadable state is.
func (c *Controller) Status() error {
	path, _, err := c.unit()
	if err != nil {
		return err
	}
	st, err := c.Manager.Status()
	switch {
	case errors.Is(err, kservice.ErrNotInstalled):
		fmt.Fprintln(c.Out, "hfbrokerd service: not installed (run 'hfbrokerd install')")
		return nil
	case err != nil && strings.Contains(err.Error(), "failed state"):
		fmt.Fprintln(c.Out, "hfbrokerd service: failed (see 'journalctl --user -u "+Name+"')")
		return nil
	case err != nil:
		return c.fail("status", err)
	}
	where := ""
	if _, err := os.Stat(path); err == nil {
		where = " (" + path + ")"
	}
	switch st {
	case kservice.StatusRunning:
		fmt.Fprintln(c.Out, "hfbrokerd service: running"+where)
	case kservice.StatusStopped:
		fmt.Fprintln(c.Out, "hfbrokerd service: stopped"+where)
	default:
		fmt.Fprintln(c.Out, "hfbrokerd service: unknown state"+where)
	}
	return nil
}
