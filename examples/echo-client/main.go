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
// Unlike the server it needs no selector: it waits on one thing at a time,
// as the articles' client does. It does send a line while reading the
// reply, because a line longer than the sockets' buffers is echoed before
// it is all sent, and the server stops reading from a client that does not
// take its replies.
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
	"time"
)

func main() {
	os.Exit(run())
}

func run() int {
	addr := flag.String("addr", "127.0.0.1:8088", "server `host:port`")
	timeout := flag.Duration("timeout", 30*time.Second, "give up on a reply not complete this long after its line (0: wait forever)")
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		return 2
	}

	conn, err := net.DialTimeout("tcp", *addr, 10*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo-client:", err)
		return 1
	}
	defer conn.Close()

	interactive := isTerminal()
	lines := bufio.NewReaderSize(os.Stdin, 64<<10)
	replies := bufio.NewReaderSize(conn, 64<<10)
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
			// A server that is stopped, or a host that is gone, would
			// otherwise keep the client waiting for good (TCP gives up on
			// a vanished peer only after many minutes).
			if *timeout > 0 {
				conn.SetDeadline(time.Now().Add(*timeout))
			}
			reply, xerr := exchange(conn, replies, append(msg, '\n'))
			if errors.Is(xerr, os.ErrDeadlineExceeded) {
				xerr = fmt.Errorf("no complete reply within %v", *timeout)
			}
			if xerr != nil {
				fmt.Fprintln(os.Stderr, "echo-client:", xerr)
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

// exchange sends msg and returns the reply up to and including its
// newline. It sends from another goroutine while it reads, so that a long
// line's echo can flow back as the line goes out. It returns an error
// wrapping os.ErrDeadlineExceeded if conn's deadline passed first.
func exchange(conn net.Conn, replies *bufio.Reader, msg []byte) ([]byte, error) {
	sent := make(chan error, 1)
	go func() {
		_, err := conn.Write(msg)
		if err != nil {
			conn.SetReadDeadline(time.Now()) // no reply will come: stop the read
		}
		sent <- err
	}()
	reply, rerr := replies.ReadBytes('\n')
	if rerr != nil {
		conn.SetWriteDeadline(time.Now()) // unblock a write still under way
	}
	werr := <-sent
	switch {
	case rerr == nil:
		return reply, werr
	case errors.Is(rerr, connReset) || errors.Is(werr, connReset):
		// The kernel reports a reset to the first read or write after it:
		// when that was the write, the read finds only an end of stream.
		return nil, errors.New("the server reset the connection")
	case rerr == io.EOF:
		return nil, errors.New("the server closed the connection")
	case werr != nil && !errors.Is(werr, os.ErrDeadlineExceeded):
		return nil, werr // the write failed, and stopped the read
	}
	return nil, rerr
}
