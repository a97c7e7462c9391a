// Command empty does nothing: it is the floor the benchmarks measure a Go
// command's start-up against (the runtime's own initialisation, on this
// machine, in the same run).
package main

func main() {}
