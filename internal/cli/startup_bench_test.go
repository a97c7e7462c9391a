package cli

import (
	"io"
	"strings"
	"testing"
)

func BenchmarkNewRootCmd(b *testing.B) {
	f := NewFactory(strings.NewReader(""), io.Discard, io.Discard)
	for b.Loop() {
		NewRootCmd(f)
	}
}
