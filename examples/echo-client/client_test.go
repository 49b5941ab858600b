package main_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/seed08bc25bd/selectors/examples/internal/echotest"
)

func TestMain(m *testing.M) {
	echotest.Main(m)
}

// client runs echo-client against addr with stdin and flags, and returns
// its stdout, stderr and exit code.
func client(t *testing.T, addr string, stdin []byte, flags ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out bytes.Buffer
	stderr, code = runClient(t, bytes.NewReader(stdin), &out, append([]string{"-addr", addr}, flags...)...)
	return out.String(), stderr, code
}

// runClient runs echo-client with args, stdin and stdout (an *os.File is
// the client's own), and returns its stderr and exit code.
func runClient(t *testing.T, stdin io.Reader, stdout io.Writer, args ...string) (stderr string, code int) {
	t.Helper()
	cmd := echotest.Command(echotest.Binary(t, echotest.ClientPkg), args...)
	var errOut bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, &errOut
	code = echotest.Run(t, cmd)
	return errOut.String(), code
}

func TestHello(t *testing.T) {
	s := echotest.StartServer(t)
	out, errOut, code := client(t, s.Addr, []byte("hello\n"))
	if out != "hello\n" || code != 0 {
		t.Fatalf("printf 'hello\\n' | echo-client: stdout %q, stderr %q, exit %d", out, errOut, code)
	}
}

func TestThousandLinesWithAMiBLine(t *testing.T) {
	s := echotest.StartServer(t)
	in := bytes.Join(echotest.Lines(1000, 700, 1<<20), nil)
	out, errOut, code := client(t, s.Addr, in)
	if code != 0 || out != string(in) {
		t.Fatalf("exit %d, stderr %q; stdout is %d bytes, want the %d bytes sent", code, errOut, len(out), len(in))
	}
}

func TestUpperServer(t *testing.T) {
	s := echotest.StartServer(t, "-upper")
	out, errOut, code := client(t, s.Addr, []byte("hello\nWorld 42\n"))
	if out != "HELLO\nWORLD 42\n" || code != 0 {
		t.Fatalf("stdout %q, stderr %q, exit %d", out, errOut, code)
	}
}

// TestLineEnds: empty lines are not sent, a last line without a newline is,
// and a CRLF ends a line as a LF does.
func TestLineEnds(t *testing.T) {
	s := echotest.StartServer(t)
	out, errOut, code := client(t, s.Addr, []byte("one\n\n\r\ntwo\r\nthree"))
	if out != "one\ntwo\nthree\n" || code != 0 {
		t.Fatalf("stdout %q, stderr %q, exit %d", out, errOut, code)
	}
	if n := s.Count("connected "); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// fakeServer accepts one connection and hands it to serve.
func fakeServer(t *testing.T, serve func(c *net.TCPConn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(echotest.Timeout))
		serve(c.(*net.TCPConn))
	}()
	return ln.Addr().String()
}

// TestReplyInPieces: a reply that comes in several reads is read to its
// newline.
func TestReplyInPieces(t *testing.T) {
	addr := fakeServer(t, func(c *net.TCPConn) {
		r := bufio.NewReader(c)
		for range 2 {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			for _, piece := range []string{line[:1], line[1:3], line[3:]} {
				c.Write([]byte(piece))
				time.Sleep(20 * time.Millisecond)
			}
		}
	})
	out, errOut, code := client(t, addr, []byte("abcdef\nsecond line\n"))
	if out != "abcdef\nsecond line\n" || code != 0 {
		t.Fatalf("stdout %q, stderr %q, exit %d", out, errOut, code)
	}
}

func TestServerCloses(t *testing.T) {
	addr := fakeServer(t, func(c *net.TCPConn) {
		bufio.NewReader(c).ReadString('\n')
		c.Write([]byte("half a rep"))
	})
	out, errOut, code := client(t, addr, []byte("hello\nagain\n"))
	if code != 1 || !strings.Contains(errOut, "server closed the connection") {
		t.Fatalf("stdout %q, stderr %q, exit %d; want exit 1 and why", out, errOut, code)
	}
}

// TestServerResets: a server that resets the connection instead of
// replying is named for it. Windows is tested under Wine only, whose
// sockets report a reset to a read as the end of the stream: the client
// cannot tell it from a close there, so "closed" is accepted too.
func TestServerResets(t *testing.T) {
	addr := fakeServer(t, func(c *net.TCPConn) {
		bufio.NewReader(c).ReadString('\n')
		c.SetLinger(0)
	})
	out, errOut, code := client(t, addr, []byte("hello\n"))
	named := strings.Contains(errOut, "server reset the connection") ||
		runtime.GOOS == "windows" && strings.Contains(errOut, "server closed the connection")
	if code != 1 || !named {
		t.Fatalf("stdout %q, stderr %q, exit %d; want exit 1 and why", out, errOut, code)
	}
}

// TestServerResetsDuringSend: a server that resets the connection while a
// long line is still going out is named for it, whether the client's read
// or its write meets the reset first (the other then finds an end of
// stream or a broken pipe). Several runs, to meet both orders.
//
// Under Wine, a read meets this reset as the end of the stream (see
// TestServerResets), so there "closed" is accepted too.
func TestServerResetsDuringSend(t *testing.T) {
	line := append(bytes.Repeat([]byte("x"), 8<<20), '\n')
	for range 4 {
		addr := fakeServer(t, func(c *net.TCPConn) {
			io.ReadFull(c, make([]byte, 64<<10)) // the line is under way
			c.SetLinger(0)
		})
		out, errOut, code := client(t, addr, line)
		named := strings.Contains(errOut, "server reset the connection") ||
			runtime.GOOS == "windows" && strings.Contains(errOut, "server closed the connection")
		if code != 1 || !named {
			t.Fatalf("stdout %d bytes, stderr %q, exit %d; want exit 1 and why", len(out), errOut, code)
		}
	}
}

// TestServerStopsAnswering: a server that takes the line and never
// replies (stopped, or its host gone) fails the client after -timeout,
// not never.
func TestServerStopsAnswering(t *testing.T) {
	addr := fakeServer(t, func(c *net.TCPConn) {
		bufio.NewReader(c).ReadString('\n')
		io.Copy(io.Discard, c) // until the client gives up and closes
	})
	const timeout = 300 * time.Millisecond
	start := time.Now()
	out, errOut, code := client(t, addr, []byte("hello\n"), "-timeout", timeout.String())
	if code != 1 || !strings.Contains(errOut, "no complete reply within "+timeout.String()) {
		t.Fatalf("stdout %q, stderr %q, exit %d; want exit 1 and why", out, errOut, code)
	}
	if waited := time.Since(start); waited < timeout {
		t.Errorf("gave up after %v, before the %v timeout", waited, timeout)
	}
}

// TestNoPromptOffTerminal: stdin the null device, a character device but
// no terminal (as under cron or systemd), gets no prompt.
func TestNoPromptOffTerminal(t *testing.T) {
	s := echotest.StartServer(t)
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	var out bytes.Buffer
	errOut, code := runClient(t, null, &out, "-addr", s.Addr)
	if out.String() != "" || code != 0 {
		t.Fatalf("echo-client < %s: stdout %q, stderr %q, exit %d", os.DevNull, out.String(), errOut, code)
	}
}

func TestNoServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	out, errOut, code := client(t, addr, []byte("hello\n"))
	if code != 1 || errOut == "" {
		t.Fatalf("stdout %q, stderr %q, exit %d; want exit 1 and why", out, errOut, code)
	}
}
