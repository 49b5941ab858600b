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
// End of input exits 0; a server that closes or resets the connection
// exits 1 with a message on stderr.
//
// Usage:
//
//	echo-client [-addr 127.0.0.1:8088]
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

	interactive := isTerminal(os.Stdin)
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
			reply, xerr := exchange(conn, replies, append(msg, '\n'))
			if xerr != nil {
				fmt.Fprintln(os.Stderr, "echo-client:", xerr)
				return 1
			}
			if _, err := os.Stdout.Write(reply); err != nil {
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
// line's echo can flow back as the line goes out.
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
	case rerr == io.EOF:
		return nil, errors.New("the server closed the connection")
	case rerr != nil && werr != nil && errors.Is(rerr, os.ErrDeadlineExceeded):
		return nil, werr
	case rerr != nil:
		return nil, rerr
	}
	return reply, werr
}

// isTerminal reports whether f is a terminal (a character device, on
// every platform Go runs on).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
