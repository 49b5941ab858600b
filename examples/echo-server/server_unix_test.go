//go:build unix

package main_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed08bc25bd/selectors/examples/internal/echotest"
)

// TestSignalShutdown sends SIGTERM or SIGINT to a server with clients, one
// of them with a megabyte it has not read: the server closes them all and
// exits 0 within a second.
func TestSignalShutdown(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			s := echotest.StartServer(t)
			idle := echotest.Dial(t, s.Addr)
			busy := echotest.Dial(t, s.Addr)
			if _, err := busy.Write(make([]byte, 1<<20)); err != nil {
				t.Fatal(err)
			}
			if !echotest.WaitUntil(5*time.Second, func() bool { return s.Count("connected ") == 2 }) {
				t.Fatalf("clients not connected: %q", s.Lines())
			}

			start := time.Now()
			if err := s.Cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			code := s.Wait(time.Second)
			if code != 0 {
				t.Fatalf("exit code %d (-1: still running a second after %v); stderr %q", code, sig, s.Stderr())
			}
			t.Logf("exited %v after %v", code, time.Since(start))
			lines := s.Lines()
			if !slices.Contains(lines, sig.String()+": shutting down") {
				t.Errorf("shutdown not logged: %q", lines)
			}
			if n := s.Count("disconnected "); n != 2 {
				t.Errorf("%d disconnects logged, want 2: %q", n, lines)
			}
			// The server closed both: the idle client reads the end of the
			// stream, the busy one its echo and then the end (or a reset,
			// for the data the server had not read).
			idle.SetDeadline(time.Now().Add(time.Second))
			if n, err := idle.Read(make([]byte, 1)); err != io.EOF {
				t.Errorf("idle client read %d, %v; want EOF", n, err)
			}
			busy.SetDeadline(time.Now().Add(time.Second))
			if _, err := io.Copy(io.Discard, busy); err != nil && !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("busy client: %v", err)
			}
			// The process is gone and reaped, and nobody listens any more.
			if err := s.Cmd.Process.Signal(syscall.Signal(0)); err == nil {
				t.Error("server process still exists")
			}
			if c, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
				c.Close()
				t.Errorf("%s still accepts connections", s.Addr)
			}
		})
	}
}

// TestSignalAtOnce sends the signal as soon as the server's first line is
// read, as a script that waits for that line may: the server shuts down
// and exits 0 every time, instead of dying of the signal when it arrives
// before the server watches for it.
func TestSignalAtOnce(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			for range 20 {
				s := echotest.StartServer(t)
				if err := s.Cmd.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
				if code := s.Wait(2 * time.Second); code != 0 {
					_ = s.Cmd.Process.Kill() // if it still runs, so that Stderr returns
					t.Fatalf("exit code %d after %v (-1: killed by a signal, or still running 2 s later); stderr %q", code, sig, s.Stderr())
				}
				if lines := s.Lines(); !slices.Contains(lines, sig.String()+": shutting down") {
					t.Fatalf("shutdown not logged: %q", lines)
				}
			}
		})
	}
}

// TestNetcat uses OpenBSD's nc as the client: -N shuts down its sending
// side at the end of input, and it exits once the server closes.
func TestNetcat(t *testing.T) {
	nc := echotest.NeedTool(t, "nc")
	s := echotest.StartServer(t)
	host, port, _ := net.SplitHostPort(s.Addr)
	for _, input := range [][]byte{
		[]byte("hello\nworld\n"),
		bytes.Join(echotest.Lines(1000, 10, 1<<20), nil),
	} {
		cmd := exec.Command(nc, "-N", host, port)
		cmd.Stdin = bytes.NewReader(input)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := runWithin(cmd, echotest.Timeout)
		if err != nil {
			t.Fatalf("nc: %v; stderr %q", err, stderr.String())
		}
		if !bytes.Equal(out, input) {
			t.Fatalf("nc got %d bytes back of %d, differing from byte %d", len(out), len(input), firstDiff(out, input))
		}
	}
}

// pythonClient is a client nobody here wrote: Python's socket module,
// with sendall and recv as in the articles. It sends lines and reads their
// echo, resets a connection, half-closes another and reads to the end.
const pythonClient = `
import socket, struct, sys
host, port = sys.argv[1], int(sys.argv[2])

def connect():
    s = socket.create_connection((host, port), timeout=30)
    return s

def recv_exactly(s, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(min(65536, n - len(buf)))
        if not chunk:
            raise SystemExit("server closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return bytes(buf)

s = connect()
for i in range(100):
    msg = ("python line %d\n" % i).encode()
    s.sendall(msg)
    got = recv_exactly(s, len(msg))
    if got != msg:
        raise SystemExit("sent %r, got %r" % (msg, got))

r = connect()
r.sendall(b"about to reset\n")
r.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
r.close()

h = connect()
payload = b"half-closed " * 10000
h.sendall(payload)
h.shutdown(socket.SHUT_WR)
got = bytearray()
while True:
    chunk = h.recv(65536)
    if not chunk:
        break
    got += chunk
if bytes(got) != payload:
    raise SystemExit("half-close: got %d bytes of %d" % (len(got), len(payload)))

s.sendall(b"still served\n")
if recv_exactly(s, 13) != b"still served\n":
    raise SystemExit("not served after the reset")
print("ok")
`

func TestPythonClient(t *testing.T) {
	python := echotest.NeedTool(t, "python3")
	s := echotest.StartServer(t)
	host, port, _ := net.SplitHostPort(s.Addr)
	cmd := exec.Command(python, "-c", pythonClient, host, port)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := runWithin(cmd, echotest.Timeout)
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("python3 client: %v; stdout %q; stderr %q", err, out, stderr.String())
	}
}

// runWithin runs cmd and returns its stdout, killing it after timeout.
func runWithin(cmd *exec.Cmd, timeout time.Duration) ([]byte, error) {
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	timer := time.AfterFunc(timeout, func() { cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Wait()
	return stdout.Bytes(), err
}
