//go:build unix

package main_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seed08bc25bd/selectors"
	"github.com/seed08bc25bd/selectors/examples/internal/echotest"
)

const netcatPkg = "github.com/seed08bc25bd/selectors/examples/netcat"

func TestMain(m *testing.M) {
	echotest.Main(m)
}

// The tests every backend passes.
var netcatTests = []struct {
	name string
	run  func(t *testing.T, backend string)
}{
	{"ThroughEchoServer", testThroughEchoServer},
	{"HalfCloseStdinFile", testHalfCloseStdinFile},
	{"PeerClosesFirst", testPeerClosesFirst},
	{"Listen", testListen},
	{"Refused", testRefused},
}

func TestBackends(t *testing.T) {
	for _, backend := range append([]string{"default"}, selectors.Backends()...) {
		t.Run(backend, func(t *testing.T) {
			for _, tt := range netcatTests {
				t.Run(tt.name, func(t *testing.T) { tt.run(t, backend) })
			}
		})
	}
}

// netcat is a running netcat.
type netcat struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr io.Reader
	exited chan struct{}
}

// start starts `netcat -selector backend args...` with stdin (nil: the null
// device) and stdout the process's own if they are *os.File. It is killed
// when the test ends, or after echotest.Timeout.
func start(t *testing.T, backend string, stdin io.Reader, stdout io.Writer, args ...string) *netcat {
	t.Helper()
	nc := &netcat{t: t, exited: make(chan struct{})}
	nc.cmd = echotest.Command(echotest.Binary(t, netcatPkg), append([]string{"-selector", backend}, args...)...)
	nc.cmd.Stdin, nc.cmd.Stdout = stdin, stdout
	if stdout == nil {
		nc.cmd.Stdout = &nc.stdout
	}
	var err error
	if nc.stderr, err = nc.cmd.StderrPipe(); err != nil {
		t.Fatal(err)
	}
	if err := nc.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(echotest.Timeout, func() { nc.cmd.Process.Kill() })
	t.Cleanup(func() {
		timer.Stop()
		nc.cmd.Process.Kill()
		<-nc.exited
	})
	// Wait closes the stderr pipe: it waits for a reader of it, if any,
	// to have read it all.
	go func() {
		nc.cmd.Wait()
		close(nc.exited)
	}()
	return nc
}

// wait waits for netcat to exit, reading its stderr, and returns its exit
// code and stderr.
func (nc *netcat) wait() (code int, stderr string) {
	b, _ := io.ReadAll(nc.stderr)
	<-nc.exited
	if strings.Contains(string(b), "DATA RACE") {
		nc.t.Errorf("netcat has a data race: %s", b)
	}
	return nc.cmd.ProcessState.ExitCode(), string(b)
}

// peer listens on 127.0.0.1 and serves one connection with serve.
func peer(t *testing.T, serve func(c *net.TCPConn) error) (addr []string, served <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(echotest.Timeout))
		done <- serve(c.(*net.TCPConn))
	}()
	t.Cleanup(func() { ln.Close() })
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	return []string{host, port}, done
}

// testThroughEchoServer sends 4 MiB through netcat to the echo server
// example: netcat half-closes at the end of its input, the server then
// echoes the rest and closes, and netcat exits.
func testThroughEchoServer(t *testing.T, backend string) {
	s := echotest.StartServer(t)
	host, port, _ := net.SplitHostPort(s.Addr)
	in := bytes.Join(echotest.Lines(40000, 20000, 3<<20), nil)
	nc := start(t, backend, bytes.NewReader(in), nil, host, port)
	if code, stderr := nc.wait(); code != 0 || !bytes.Equal(nc.stdout.Bytes(), in) {
		t.Fatalf("exit %d, stderr %q; %d bytes echoed of %d", code, stderr, nc.stdout.Len(), len(in))
	}
}

// testHalfCloseStdinFile: stdin a regular file, which epoll cannot watch;
// the peer reads it to its end, the half-close, and then answers.
func testHalfCloseStdinFile(t *testing.T, backend string) {
	name := filepath.Join(t.TempDir(), "input")
	in := bytes.Repeat([]byte("a file's line\n"), 100000)
	if err := os.WriteFile(name, in, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	addr, served := peer(t, func(c *net.TCPConn) error {
		got, err := io.ReadAll(c)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(c, "got %d bytes\n", len(got))
		return err
	})
	nc := start(t, backend, f, nil, addr...)
	code, stderr := nc.wait()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("got %d bytes\n", len(in)); code != 0 || nc.stdout.String() != want {
		t.Fatalf("exit %d, stderr %q, stdout %q; want %q", code, stderr, nc.stdout.String(), want)
	}
}

// testPeerClosesFirst: the peer says goodbye and closes while netcat's
// input goes on: netcat exits.
func testPeerClosesFirst(t *testing.T, backend string) {
	r, w, err := os.Pipe() // an input that never ends, until the test does
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	addr, served := peer(t, func(c *net.TCPConn) error {
		_, err := c.Write([]byte("bye\n"))
		return err
	})
	nc := start(t, backend, r, nil, addr...)
	code, stderr := nc.wait()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if code != 0 || nc.stdout.String() != "bye\n" {
		t.Fatalf("exit %d, stderr %q, stdout %q", code, stderr, nc.stdout.String())
	}
}

// testListen: netcat -l takes a connection, sends its input and reads to
// the end.
func testListen(t *testing.T, backend string) {
	nc := start(t, backend, strings.NewReader("from netcat\n"), nil, "-l", "127.0.0.1", "0")
	stderr := bufio.NewReader(nc.stderr)
	line, err := stderr.ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "netcat: listening on ")
	if err != nil || !ok {
		t.Fatalf("netcat -l's first line on stderr: %q, %v", line, err)
	}
	c := echotest.Dial(t, addr)
	got, err := io.ReadAll(c) // to netcat's half-close
	if err != nil || string(got) != "from netcat\n" {
		t.Fatalf("read %q, %v", got, err)
	}
	if _, err := c.Write([]byte("from the test\n")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	code, rest := nc.wait()
	if code != 0 || nc.stdout.String() != "from the test\n" {
		t.Fatalf("exit %d, stderr %q, stdout %q", code, rest, nc.stdout.String())
	}
}

func testRefused(t *testing.T, backend string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	code, stderr := start(t, backend, nil, nil, host, port).wait()
	if code != 1 || !strings.Contains(stderr, "refused") {
		t.Fatalf("exit %d, stderr %q; want 1 and why", code, stderr)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"host"}, {"-l"}, {"a", "b", "c"}, {"-selector", "no-such-backend", "host", "1"}} {
		cmd := echotest.Command(echotest.Binary(t, netcatPkg), args...)
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 2 || len(out) == 0 {
			t.Errorf("netcat %q: exit %d, output %q; want 2 and why", args, code, out)
		}
	}
}
