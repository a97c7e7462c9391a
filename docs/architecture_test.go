// Package docs holds the project's documents; its test keeps
// ARCHITECTURE.md in step with the tree.
package docs

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestArchitectureNamesEveryPackage reads internal/ at test time, so a
// package added later fails here until docs/ARCHITECTURE.md names it.
func TestArchitectureNamesEveryPackage(t *testing.T) {
	doc, err := os.ReadFile("ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	var pkgs []string
	err = filepath.WalkDir(filepath.Join("..", "internal"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, _ := filepath.Rel("..", filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		if len(pkgs) == 0 || pkgs[len(pkgs)-1] != rel {
			pkgs = append(pkgs, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 10 {
		t.Fatalf("found only %d packages under internal/: %v; the walk is looking in the wrong place", len(pkgs), pkgs)
	}
	for _, p := range pkgs {
		if !names(text, p) {
			t.Errorf("docs/ARCHITECTURE.md does not name %s: add a line for it to the package table", p)
		}
	}
}

// names reports whether text mentions pkg as a whole path: "internal/hub"
// is not named by "internal/hubapi" nor by "internal/hub/x".
func names(text, pkg string) bool {
	for i := 0; ; {
		j := strings.Index(text[i:], pkg)
		if j < 0 {
			return false
		}
		end := i + j + len(pkg)
		if end == len(text) || !strings.ContainsRune("abcdefghijklmnopqrstuvwxyz0123456789_/", rune(text[end])) {
			return true
		}
		i = end
	}
}
