// Command stdlib is the echo server as most Go programs would write it: Go's
// net package and a goroutine per connection, each copying what it reads
// back to its client. The runtime's netpoller (epoll on Linux) does the
// multiplexing; the bench runs it with GOMAXPROCS=1 so that it has one CPU,
// as the single-loop servers do.
//
// Usage:
//
//	stdlib [-addr 127.0.0.1:0] [-lifetime 10m]
//
// Its first line on stdout is "listening on <host:port> (stdlib)".
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"time"
)

const readSize = 64 << 10

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen on `host:port` (port 0 picks one)")
	lifetime := flag.Duration("lifetime", 10*time.Minute, "exit after this long, whatever happens")
	flag.Parse()

	// The bench kills the server after each run; this is the bound if
	// the script itself is killed first.
	time.AfterFunc(*lifetime, func() { os.Exit(3) })

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stdlib:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s (stdlib)\n", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			fmt.Fprintln(os.Stderr, "stdlib:", err)
			os.Exit(1)
		}
		go echo(c)
	}
}

// echo writes back what c sends until it closes or fails.
func echo(c net.Conn) {
	defer c.Close()
	buf := make([]byte, readSize)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // io.EOF or a reset: either way the connection is done
		}
	}
}
