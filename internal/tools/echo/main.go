// Command echo serves raw byte echo on a unix socket: the floor that
// scripts/bench compares the Lease RPC against (loadgen echo drives it).
//
// Usage: echo -socket PATH
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sock := flag.String("socket", "", "unix socket path to serve")
	flag.Parse()
	if *sock == "" {
		fmt.Fprintln(os.Stderr, "echo: -socket is required")
		os.Exit(2)
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
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			io.Copy(c, c)
		}()
	}
}
