//go:build unix

package cli

import (
	"os"
	"strconv"
	"testing"

	"github.com/hfbroker/hfbroker/internal/fullcli"
)

func TestTakeHandoverReadsOnlyAPipeAndDropsTheVariable(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "user-file")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("HFL1 someone's data"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{strconv.Itoa(int(f.Fd())), "0", "2", "x", ""} {
		t.Setenv(fullcli.EnvHandover, v)
		if h := takeHandover(); h != nil {
			t.Errorf("%s=%q: took a handover", fullcli.EnvHandover, v)
		}
		if _, ok := os.LookupEnv(fullcli.EnvHandover); ok {
			t.Errorf("%s=%q: the variable stayed, for commands run from here to inherit", fullcli.EnvHandover, v)
		}
	}
	if off, err := f.Seek(0, 1); err != nil || off != 0 {
		t.Errorf("the user's file was read (offset %d, %v)", off, err)
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.WriteString("not a handover")
	w.Close()
	t.Setenv(fullcli.EnvHandover, strconv.Itoa(int(r.Fd())))
	if h := takeHandover(); h != nil {
		t.Error("took a pipe that holds no handover")
	}
}
