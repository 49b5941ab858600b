//go:build unix

// Command netcat copies its stdin to a TCP connection and the connection
// to its stdout, with one selector over stdin and the connection, as nc
// does:
//
//	printf 'GET / HTTP/1.0\r\n\r\n' | netcat example.com 80
//
// At the end of its input it shuts down the sending side of the connection
// (a half-close, as nc -N does), so that the peer reads the end of the
// stream and can still answer; it exits once the peer closes the
// connection. It works piped and on a terminal, where a line goes out as
// it is typed and Ctrl-D ends the input.
//
// With -l it listens on [host:]port instead, takes one connection, and
// says on stderr where it listens (port 0 picks a free port):
//
//	netcat -l 127.0.0.1 0
//
// A piece read from stdin is written to the connection with
// selectors.Write, which may take part of it: the rest waits for the
// connection to be writable, and stdin is not read meanwhile, so that
// netcat holds one piece at most. What comes from the connection is
// written to stdout as it comes; a stdout that is not read stops netcat
// from reading the connection, as a pipe would. It exits 0 when the peer
// closes the connection, 1 on an error (a refused or reset connection),
// 2 on bad usage.
//
// Usage:
//
//	netcat [-selector default] host port
//	netcat -l [-selector default] [host] port
//
// Unix only: Windows's selectors take sockets only, and the console and
// pipes are no sockets there.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/seed08bc25bd/selectors"
)

const pieceSize = 64 << 10 // one read, from stdin or from the connection

func main() {
	os.Exit(run())
}

func run() int {
	listen := flag.Bool("l", false, "listen on [host] port, and take one connection")
	backend := flag.String("selector", "default",
		"selector `backend`: default, or one this platform has: "+strings.Join(selectors.Backends(), ", "))
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: netcat [-selector backend] host port\n       netcat -l [-selector backend] [host] port")
		flag.PrintDefaults()
	}
	flag.Parse()
	args := flag.Args()
	if len(args) != 2 && !(*listen && len(args) == 1) {
		flag.Usage()
		return 2
	}
	sel, err := selectors.New(*backend)
	if err != nil {
		fmt.Fprintln(os.Stderr, "netcat:", err)
		return 2
	}
	defer sel.Close()

	var conn *net.TCPConn
	if *listen {
		conn, err = acceptOne(args)
	} else {
		var c net.Conn
		c, err = net.Dial("tcp", net.JoinHostPort(args[0], args[1]))
		if err == nil {
			conn = c.(*net.TCPConn)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "netcat:", err)
		return 1
	}
	defer conn.Close()

	nc := &netcat{sel: sel, conn: conn}
	if _, err := sel.Register(conn, selectors.EVENT_READ, nc.connReady); err != nil {
		fmt.Fprintln(os.Stderr, "netcat:", err)
		return 1
	}
	nc.readStdin()
	for !nc.done && nc.err == nil {
		ready, err := sel.Select(-1)
		if err != nil {
			nc.err = err
			break
		}
		for _, r := range ready {
			callback := r.Key.Data.(func(selectors.Events))
			callback(r.Mask)
			if nc.done || nc.err != nil {
				break
			}
		}
	}
	if nc.err != nil {
		fmt.Fprintln(os.Stderr, "netcat:", nc.err)
		return 1
	}
	return 0
}

// acceptOne listens on [host] port, and returns the first connection.
func acceptOne(args []string) (*net.TCPConn, error) {
	host, port := "", args[len(args)-1]
	if len(args) == 2 {
		host = args[0]
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, err
	}
	defer ln.Close() // one connection: nobody else gets in
	fmt.Fprintf(os.Stderr, "netcat: listening on %s\n", ln.Addr())
	// Go's own Accept, which waits: until a peer comes there is nothing
	// else to do.
	c, err := ln.Accept()
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// netcat is what the callbacks share.
type netcat struct {
	sel   selectors.Selector
	conn  *net.TCPConn
	piece []byte // read from stdin, not yet written to the connection
	in    [pieceSize]byte
	out   [pieceSize]byte
	done  bool  // the peer closed the connection
	err   error // what ends netcat with exit code 1
	// stdinAlways: stdin is a regular file or /dev/null, which epoll
	// refuses to watch and which is always ready to read.
	stdinAlways bool
}

// readStdin watches stdin, or reads it now if it is always ready.
func (nc *netcat) readStdin() {
	if !nc.stdinAlways {
		_, err := nc.sel.Register(os.Stdin, selectors.EVENT_READ, nc.stdinReady)
		if err == nil {
			return
		}
		if !errors.Is(err, syscall.EPERM) {
			nc.err = err
			return
		}
		nc.stdinAlways = true
	}
	nc.stdinReady(selectors.EVENT_READ)
}

// stdinReady is stdin's callback: it reads a piece, and then watches the
// connection for writing it; at the end of the input it half-closes the
// connection.
func (nc *netcat) stdinReady(selectors.Events) {
	n, err := selectors.Read(os.Stdin, nc.in[:])
	if errors.Is(err, selectors.ErrWouldBlock) {
		return // nothing there after all: a spurious report
	}
	if !nc.stdinAlways {
		if _, uerr := nc.sel.Unregister(os.Stdin); uerr != nil {
			nc.err = uerr
			return
		}
	}
	if err == io.EOF {
		// The peer reads the end of the stream, and can still answer.
		if err := nc.conn.CloseWrite(); err != nil {
			nc.err = err
		}
		return
	}
	if err != nil {
		nc.err = fmt.Errorf("reading stdin: %w", err)
		return
	}
	nc.piece = nc.in[:n]
	if _, err := nc.sel.Modify(nc.conn, selectors.EVENT_READ|selectors.EVENT_WRITE, nc.connReady); err != nil {
		nc.err = err
	}
}

// connReady is the connection's callback: it copies what arrived to
// stdout, and writes what it can of the piece from stdin.
func (nc *netcat) connReady(mask selectors.Events) {
	if mask&selectors.EVENT_READ != 0 {
		n, err := selectors.Read(nc.conn, nc.out[:])
		switch {
		case errors.Is(err, selectors.ErrWouldBlock):
			// nothing there after all: a spurious report
		case err == io.EOF:
			nc.done = true // the peer closed the connection
			return
		case err != nil:
			nc.err = err
			return
		default:
			if _, err := os.Stdout.Write(nc.out[:n]); err != nil {
				nc.err = fmt.Errorf("writing stdout: %w", err)
				return
			}
		}
	}
	if mask&selectors.EVENT_WRITE != 0 {
		n, err := selectors.Write(nc.conn, nc.piece)
		nc.piece = nc.piece[n:]
		switch {
		case errors.Is(err, selectors.ErrWouldBlock):
			return // the rest when the connection is writable
		case err != nil:
			nc.err = err
			return
		}
		if _, err := nc.sel.Modify(nc.conn, selectors.EVENT_READ, nc.connReady); err != nil {
			nc.err = err
			return
		}
		nc.readStdin()
	}
}
