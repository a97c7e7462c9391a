// Command gendocs writes hfbroker's and hfbrokerd's man pages (from their
// cobra command trees) and hfbroker's shell completions, for the packages
// and release archives. It is a separate program so that cobra/doc and its
// Markdown renderer stay out of the hfbroker binary.
//
// Usage: go run ./internal/tools/gendocs -out DIR
//
// It writes DIR/man/man1/*.1 (hfbroker.1, hfbroker-exec.1, hfbrokerd.1, …)
// and DIR/completions/{hfbroker.bash,_hfbroker,hfbroker.fish}. The pages'
// date comes from SOURCE_DATE_EPOCH (else the Unix epoch), so two runs on
// the same commit write the same bytes.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/hfbroker/hfbroker/internal/cli"
	"github.com/hfbroker/hfbroker/internal/daemon"
)

func main() {
	out := flag.String("out", "", "directory to write man/ and completions/ into")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "usage: gendocs -out DIR")
		os.Exit(2)
	}
	if err := run(*out); err != nil {
		fmt.Fprintf(os.Stderr, "gendocs: error: %v\n", err)
		os.Exit(1)
	}
}

func run(out string) error {
	date := time.Unix(0, 0).UTC()
	if e := os.Getenv("SOURCE_DATE_EPOCH"); e != "" {
		n, err := strconv.ParseInt(e, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH=%q: %w", e, err)
		}
		date = time.Unix(n, 0).UTC()
	}
	hfb := cli.NewRootCmd(cli.NewFactory(os.Stdin, io.Discard, io.Discard))
	hfb.InitDefaultCompletionCmd()
	hfbd := daemon.Command(io.Discard, io.Discard)

	man := filepath.Join(out, "man", "man1")
	if err := os.MkdirAll(man, 0o755); err != nil {
		return err
	}
	for _, root := range []*cobra.Command{hfb, hfbd} {
		root.DisableAutoGenTag = true
		hdr := &doc.GenManHeader{Section: "1", Date: &date, Source: "hfbroker", Manual: "hfbroker manual"}
		if err := doc.GenManTree(root, hdr, man); err != nil {
			return fmt.Errorf("man pages for %s: %w", root.Name(), err)
		}
	}

	comp := filepath.Join(out, "completions")
	if err := os.MkdirAll(comp, 0o755); err != nil {
		return err
	}
	for name, gen := range map[string]func(io.Writer) error{
		"hfbroker.bash": func(w io.Writer) error { return hfb.GenBashCompletionV2(w, true) },
		"_hfbroker":     func(w io.Writer) error { return hfb.GenZshCompletion(w) },
		"hfbroker.fish": func(w io.Writer) error { return hfb.GenFishCompletion(w, true) },
	} {
		var b bytes.Buffer
		if err := gen(&b); err != nil {
			return fmt.Errorf("completion %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(comp, name), b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}
