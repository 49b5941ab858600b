package main_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/seed08bc25bd/selectors"
	"github.com/seed08bc25bd/selectors/examples/internal/echotest"
)

// TestTerminal runs netcat on a terminal (a pseudo-terminal here, its
// stdin and stdout), on every backend: a line goes out as it is typed, the
// peer's answer is shown, and Ctrl-D ends the input, which the peer reads
// as the end of the stream.
func TestTerminal(t *testing.T) {
	for _, backend := range append([]string{"default"}, selectors.Backends()...) {
		t.Run(backend, func(t *testing.T) { testTerminal(t, backend) })
	}
}

func testTerminal(t *testing.T, backend string) {
	ptmx, tty := echotest.OpenPTY(t)
	lines := make(chan string, 1)
	addr, served := peer(t, func(c *net.TCPConn) error {
		r := bufio.NewReader(c)
		line, err := r.ReadString('\n')
		lines <- line
		if err != nil {
			return err
		}
		if _, err := c.Write([]byte("hello, terminal\n")); err != nil {
			return err
		}
		rest, err := io.ReadAll(r) // to the end of the input
		if err == nil && len(rest) > 0 {
			lines <- string(rest)
		}
		return err
	})
	nc := start(t, backend, tty, tty, addr...)
	// What the terminal shows: the typing echoed, and netcat's output.
	var screen bytes.Buffer
	shown := make(chan struct{})
	go func() {
		defer close(shown)
		b := make([]byte, 4096)
		for {
			n, err := ptmx.Read(b)
			screen.Write(b[:n])
			if err != nil || strings.Contains(screen.String(), "hello, terminal") {
				return
			}
		}
	}()

	if _, err := ptmx.WriteString("typed\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case line := <-lines:
		if line != "typed\n" {
			t.Fatalf("the peer got %q, want the line typed", line)
		}
	case <-time.After(echotest.Timeout):
		t.Fatal("the line typed never reached the peer")
	}
	select {
	case <-shown:
	case <-time.After(echotest.Timeout):
		t.Fatal("the peer's answer never shown")
	}
	if !strings.Contains(screen.String(), "hello, terminal") {
		t.Fatalf("the terminal shows %q", screen.String())
	}
	if _, err := ptmx.WriteString("\x04"); err != nil { // Ctrl-D
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatalf("the peer: %v", err)
	}
	if code, stderr := nc.wait(); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	select {
	case more := <-lines:
		t.Errorf("the peer got %q after the first line, want only the end of the input", more)
	default:
	}
}
