// Command execfloor only executes true: the floor under `hfbroker exec --
// true` for any Go program (the runtime's start-up, then an execve out of a
// process whose runtime has started its threads), measured against the same
// empty program in the same run (issue 16). It links nothing but syscall.
package main

import "syscall"

func main() {
	for _, p := range []string{"/bin/true", "/usr/bin/true"} {
		syscall.Exec(p, []string{"true"}, syscall.Environ())
	}
	syscall.Exit(127)
}
