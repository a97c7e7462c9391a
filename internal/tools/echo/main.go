// Command echo serves raw byte echo on a unix socket: the floor that
// scripts/bench compares the Lease RPC against (loadgen echo drives it).
//
// With -stat and -audit it is a second floor: before it answers each read,
// it makes the two system calls a lease cannot do without, as the daemon
// makes them (round 6b of docs/benchmarks-analysis.md): a stat of a path
// (the daemon's exact config.toml check) and an append of a 240-byte line
// to a file (the lease.granted audit line, written before the grant is
// answered). -procs 1 runs it on one P, as the daemon runs.
//
// Usage: echo -socket PATH [-stat PATH] [-audit FILE] [-procs N]
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

func main() {
	sock := flag.String("socket", "", "unix socket path to serve")
	stat := flag.String("stat", "", "a path to stat before each answer")
	audit := flag.String("audit", "", "a file to append a 240-byte line to before each answer")
	procs := flag.Int("procs", 0, "GOMAXPROCS (0: the runtime's default)")
	flag.Parse()
	if *sock == "" {
		fmt.Fprintln(os.Stderr, "echo: -socket is required")
		os.Exit(2)
	}
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	var log *os.File
	if *audit != "" {
		f, err := os.OpenFile(*audit, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			fmt.Fprintf(os.Stderr, "echo: %v\n", err)
			os.Exit(1)
		}
		log = f
	}
	os.Remove(*sock) // a stale socket from an earlier run
	l, err := net.Listen("unix", *sock)
	if err != nil {
		fmt.Fprintf(os.Stderr, "echo: listen: %v\n", err)
		os.Exit(1)
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
		<-sig
		l.Close() // also removes the socket file
	}()
	line := make([]byte, 240)
	for i := range line {
		line[i] = 'x'
	}
	line[len(line)-1] = '\n'
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go serve(c, *stat, log, line)
	}
}

// serve answers each read with its bytes, after the stat and the line.
func serve(c net.Conn, stat string, log *os.File, line []byte) {
	defer c.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if stat != "" {
			statPath(stat) // the answer matters not, only the call
		}
		if log != nil {
			if _, err := log.Write(line); err != nil {
				return
			}
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
	}
}
