// Package frontconfig is the full CLI's side of the hfbroker front end's
// record of config.toml (issue 16): the full CLI, which links toml, records
// what the front needs from the file it has loaded, the Hub endpoint,
// beside that file's identity and its content; the front, which links no
// toml, uses the record while config.toml is still that file with that
// content, and otherwise hands over to the full CLI as it does without
// one. The record's format and the front's reader are the leaf package
// frontrecord, which links no os, fmt or crypto; this package writes it.
package frontconfig

import (
	"path/filepath"

	"github.com/hfbroker/hfbroker/internal/frontconfig/frontrecord"
	"github.com/hfbroker/hfbroker/internal/xdg"
)

// FileName is the record's name in hfbroker's state directory
// (frontrecord.FileName).
const FileName = frontrecord.FileName

// Path is the record's path.
func Path(p xdg.Paths) string { return filepath.Join(p.StateDir, FileName) }
