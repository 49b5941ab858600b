// Command echo-client is the line client of the Python articles, in Go: it
// sends each line it reads and prints the server's reply.
//
// On a terminal it prompts ">>: " before each line. With stdin a pipe or a
// file it prints no prompt, so that
//
//	printf 'hello\n' | echo-client
//
// prints "hello". Empty lines are not sent. A reply is read up to its
// newline, however many reads that takes, and printed on its own line.
// End of input exits 0; a server that closes or resets the connection, or
// sends no complete reply within -timeout of the line, exits 1 with a
// message on stderr.
//
// Usage:
//
//	echo-client [-addr 127.0.0.1:8088] [-timeout 30s]
//
// It reads stdin a line at a time, and exchanges each line with the server
// in a selector loop over its connection, with selectors.Read and
// selectors.Write: it sends the line while it reads the reply, because a
// line longer than the sockets' buffers is echoed before it is all sent,
// and a server stops reading from a client that does not take its replies.
// A write may take part of what it is given; the loop sends the rest when
// the connection is writable again. The timeout is the Select's.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/seed08bc25bd/selectors"
)

func main() {
	os.Exit(run())
}

func run() int {
	addr := flag.String("addr", "127.0.0.1:8088", "server `host:port`")
	timeout := flag.Duration("timeout", 30*time.Second, "give up on a reply not complete this long after its line (0: wait forever)")
	flag.Parse()
	if flag.NArg() > 0 || *timeout < 0 {
		flag.Usage()
		return 2
	}

	conn, err := net.DialTimeout("tcp", *addr, 10*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo-client:", err)
		return 1
	}
	defer conn.Close()
	sel, err := selectors.DefaultSelector()
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo-client:", err)
		return 1
	}
	defer sel.Close()
	// Registered for reading from the start: a server that closes or
	// resets the connection between two lines is met at the next one.
	if _, err := sel.Register(conn, selectors.EVENT_READ, nil); err != nil {
		fmt.Fprintln(os.Stderr, "echo-client:", err)
		return 1
	}
	c := &client{sel: sel, conn: conn.(*net.TCPConn), timeout: *timeout}

	interactive := isTerminal()
	lines := bufio.NewReaderSize(os.Stdin, 64<<10)
	for {
		if interactive {
			fmt.Print(">>: ")
		}
		line, err := lines.ReadBytes('\n')
		if err != nil && err != io.EOF {
			fmt.Fprintln(os.Stderr, "echo-client: reading stdin:", err)
			return 1
		}
		if msg := bytes.TrimRight(line, "\r\n"); len(msg) > 0 {
			reply, err := c.exchange(append(msg, '\n'))
			if err != nil {
				fmt.Fprintln(os.Stderr, "echo-client:", err)
				return 1
			}
			if _, err := os.Stdout.Write(reply); err != nil {
				fmt.Fprintln(os.Stderr, "echo-client: writing stdout:", err)
				return 1
			}
		}
		if err == io.EOF {
			if interactive {
				fmt.Println()
			}
			return 0
		}
	}
}

// client is a connection to the server and what it received that is not
// yet part of a reply printed.
type client struct {
	sel     selectors.Selector
	conn    *net.TCPConn
	timeout time.Duration
	in      []byte // received: the reply to come starts here
	buf     [64 << 10]byte
}

// exchange sends msg and returns the reply, up to and including its
// newline: it watches the connection for writing while part of msg is
// still to send, and for reading until the reply is complete.
func (c *client) exchange(msg []byte) ([]byte, error) {
	// A server that is stopped, or a host that is gone, would otherwise
	// keep the client waiting for good (TCP gives up on a vanished peer
	// only after many minutes).
	deadline := time.Now().Add(c.timeout)
	if _, err := c.sel.Modify(c.conn, selectors.EVENT_READ|selectors.EVENT_WRITE, nil); err != nil {
		return nil, err
	}
	for {
		if i := bytes.IndexByte(c.in, '\n'); i >= 0 {
			reply := c.in[:i+1]
			c.in = c.in[i+1:]
			return reply, nil
		}
		wait := time.Duration(-1)
		if c.timeout > 0 {
			if wait = time.Until(deadline); wait <= 0 {
				return nil, fmt.Errorf("no complete reply within %v", c.timeout)
			}
		}
		ready, err := c.sel.Select(wait)
		if err != nil {
			return nil, err
		}
		for _, r := range ready {
			// Reading first: when the server has gone, the read names
			// how (a close or a reset) before a write fails for it.
			if r.Mask&selectors.EVENT_READ != 0 {
				n, err := selectors.Read(c.conn, c.buf[:])
				if err != nil && !errors.Is(err, selectors.ErrWouldBlock) {
					return nil, named(err)
				}
				c.in = append(c.in, c.buf[:n]...)
			}
			if r.Mask&selectors.EVENT_WRITE != 0 {
				// A piece of 64 KiB at most: on Windows, where Go's
				// sockets are in blocking mode, Wine's send waits for
				// room for all it is given, which a full socket lacks.
				n, err := selectors.Write(c.conn, msg[:min(len(msg), len(c.buf))])
				if err != nil && !errors.Is(err, selectors.ErrWouldBlock) {
					return nil, named(err)
				}
				if msg = msg[n:]; len(msg) == 0 {
					if _, err := c.sel.Modify(c.conn, selectors.EVENT_READ, nil); err != nil {
						return nil, err
					}
				}
			}
		}
	}
}

// named says what the error of a read or a write on the connection means
// for the user.
func named(err error) error {
	switch {
	case err == io.EOF:
		return errors.New("the server closed the connection")
	case errors.Is(err, syscall.ECONNRESET):
		return errors.New("the server reset the connection")
	case errors.Is(err, syscall.EPIPE):
		// A write after the server closed the connection.
		return errors.New("the server closed the connection")
	}
	return err
}
