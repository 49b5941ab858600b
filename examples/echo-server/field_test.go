package main_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed08bc25bd/selectors/examples/internal/echotest"
)

// pipedServer is an echo-server whose stdout is a pipe that the test reads
// as it pleases, or not at all.
type pipedServer struct {
	addr   string
	cmd    *exec.Cmd
	stdout *bufio.Reader // after the first line
	pipe   *os.File      // its read end
	exited chan struct{} // closed once cmd.Wait has returned
}

// startPiped starts echo-server on backend with args and its stdout a
// pipe, and reads its first line. The server is killed when the test ends,
// if it still runs.
func startPiped(t *testing.T, backend string, args ...string) *pipedServer {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &pipedServer{pipe: r, stdout: bufio.NewReader(r), exited: make(chan struct{})}
	s.cmd = echotest.Command(echotest.Binary(t, echotest.ServerPkg),
		append([]string{"-addr", "127.0.0.1:0", "-selector", backend}, args...)...)
	var stderr bytes.Buffer
	s.cmd.Stdout, s.cmd.Stderr = w, &stderr
	err = s.cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	go func() {
		s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.exited
		r.Close()
		if strings.Contains(stderr.String(), "DATA RACE") {
			t.Error("the server has a data race")
		}
		if t.Failed() {
			t.Logf("server %v: %v; stderr: %s", s.cmd.Args, s.cmd.ProcessState, stderr.String())
		}
	})
	r.SetReadDeadline(time.Now().Add(echotest.Timeout)) // where the platform can
	line, err := s.stdout.ReadString('\n')
	m := regexp.MustCompile(`^listening on (\S+) `).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("server's first line: %q, %v", line, err)
	}
	s.addr = m[1]
	return s
}

// running fails the test if the server has exited.
func (s *pipedServer) running(t *testing.T) {
	t.Helper()
	select {
	case <-s.exited:
		t.Fatalf("the server exited: %v", s.cmd.ProcessState)
	default:
	}
}

// roundTrips makes n round trips of msg on c, each within
// echotest.Timeout, and fails the test at the first that fails.
func roundTrips(t *testing.T, c net.Conn, n int, msg []byte) {
	t.Helper()
	for i := range n {
		c.SetDeadline(time.Now().Add(echotest.Timeout))
		reply, err := echotest.RoundTrip(c, msg)
		if err != nil {
			t.Fatalf("round trip %d of %d: %v", i, n, err)
		}
		if !bytes.Equal(reply, msg) {
			t.Fatalf("round trip %d of %d: sent %q, got %q", i, n, msg, reply)
		}
	}
}

// testStalledLog stops reading the server's stdout while it logs every
// message (-v): the lines it cannot write are dropped, never waited for,
// so that every client is served on; once the log is read again, it says
// how many it dropped.
func testStalledLog(t *testing.T, backend string) {
	s := startPiped(t, backend, "-v")
	c := echotest.Dial(t, s.addr)
	// More lines than the pipe, the logger's buffer and its queue hold
	// (about 2,500 on Linux), each about a hundred bytes.
	start := time.Now()
	roundTrips(t, c, 8000, bytes.Repeat([]byte("a line that the log shows in part, "), 3))
	roundTrips(t, echotest.Dial(t, s.addr), 1, []byte("and another client\n"))
	t.Logf("8,000 round trips with the log not read: %v", time.Since(start))

	found := make(chan string, 1)
	go func() {
		defer close(found)
		for {
			line, err := s.stdout.ReadString('\n')
			if err != nil {
				return
			}
			if strings.HasPrefix(line, "log: ") {
				found <- line
				return
			}
		}
	}()
	// The count is logged before the next line that finds room: make
	// lines until it comes.
	deadline := time.After(echotest.Timeout)
	for {
		select {
		case line := <-found:
			var n int
			if _, err := fmt.Sscanf(line, "log: %d lines dropped", &n); err != nil || n <= 0 {
				t.Fatalf("the log says %q, want how many lines it dropped", line)
			}
			return
		case <-deadline:
			t.Fatal("the log never says that it dropped lines")
		case <-time.After(50 * time.Millisecond):
			roundTrips(t, c, 1, []byte("are you reading?\n"))
		}
	}
}

// testClosedStdout closes the reader of the server's stdout: the server
// serves on, logging into the void, instead of dying of SIGPIPE.
func testClosedStdout(t *testing.T, backend string) {
	s := startPiped(t, backend, "-v")
	s.pipe.Close()
	for range 20 {
		c := echotest.Dial(t, s.addr)
		roundTrips(t, c, 5, []byte("hello, nobody\n"))
		c.Close()
	}
	roundTrips(t, echotest.Dial(t, s.addr), 1, []byte("still here?\n"))
	s.running(t)
}

// testIdleTimeout runs a server with -idle 1s: a client that stops
// sending, and one that sends and never reads, are closed once idle that
// long, no sooner and not much later; a client that keeps sending is not.
func testIdleTimeout(t *testing.T, backend string) {
	const idle = time.Second
	s := startServer(t, backend, "-idle", idle.String())

	// The quiet client is active again a while after it connects, so its
	// timer, set at the connect, comes due before it has been idle long
	// enough and must be set again for when it will have been.
	quiet := echotest.Dial(t, s.Addr)
	roundTrips(t, quiet, 1, []byte("hello\n"))
	time.Sleep(idle / 10)
	quietSince := time.Now() // before the server's last activity on it
	roundTrips(t, quiet, 1, []byte("then silence\n"))
	quietClosed := make(chan time.Duration, 1)
	go func() {
		n, err := quiet.Read(make([]byte, 1))
		if n != 0 || err != io.EOF {
			t.Errorf("the quiet client read %d, %v; want the end of the stream", n, err)
		}
		quietClosed <- time.Since(quietSince)
	}()

	flooder := echotest.Dial(t, s.Addr)
	if sent := flood(flooder, 300*time.Millisecond); sent == 0 {
		t.Fatal("the flooder sent nothing")
	}

	// The busy client is older than idle, and served every 100ms meanwhile.
	busy := echotest.Dial(t, s.Addr)
	for range 15 {
		roundTrips(t, busy, 1, []byte("busy\n"))
		time.Sleep(100 * time.Millisecond)
	}

	// Closed once idle that long, and not much later: a timer never set
	// again would close it a tenth of -idle early, and one set again from
	// when it came due, not from the last activity, at 1.9 × -idle.
	if took := <-quietClosed; took < idle || took > idle*3/2 {
		t.Errorf("the quiet client was closed %v after its last round trip, want -idle %v and at most 50%% more", took, idle)
	}
	// The flooder's writes meet the close once its data is refused.
	flooder.SetWriteDeadline(time.Now().Add(echotest.Timeout))
	for {
		if _, err := flooder.Write(make([]byte, 64<<10)); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal("the flooder is still connected")
			}
			break
		}
	}
	roundTrips(t, busy, 1, []byte("still busy\n"))
	if !echotest.WaitUntil(5*time.Second, func() bool { return s.Count("disconnected ") == 2 }) {
		t.Fatalf("log: %q, want two disconnects", s.Lines())
	}
	for _, l := range s.Lines() {
		if strings.HasPrefix(l, "disconnected ") && !strings.HasSuffix(l, ": idle for "+idle.String()) {
			t.Errorf("log: %q, want the disconnect said to be for idleness", l)
		}
	}
}

// testMemoryBound runs a server with -max-buffered 256 (KiB) against clients
// that send and never read, until the queued echoes fill that: then
// another client waits to be read, until they leave and their memory is
// free again.
func testMemoryBound(t *testing.T, backend string) {
	s := startServer(t, backend, "-max-buffered", "256")
	roundTrips(t, echotest.Dial(t, s.Addr), 1, []byte("warm up\n"))
	baseline, haveRSS := echotest.PeakRSS(s.Cmd.Process.Pid)
	// Each flooder can make the server queue one read's echo, 64 KiB at
	// most: four fill the queues if every queue is full, more if not.
	full := func() bool { return s.Count("memory: the queues hold ") > 0 }
	var conns []*net.TCPConn
	for batch := 0; !full(); batch++ {
		if batch == 10 {
			t.Fatalf("%d clients that do not read: the log does not say that the queues are full", len(conns))
		}
		var wg sync.WaitGroup
		for range 4 {
			c := echotest.Dial(t, s.Addr)
			conns = append(conns, c)
			wg.Go(func() { flood(c, 500*time.Millisecond) })
		}
		wg.Wait()
		echotest.WaitUntil(time.Second, full)
	}
	t.Logf("%d clients that do not read fill the queues", len(conns))
	// Where the platform tells: the server's memory grew by little more
	// than the queues' 256 KiB, where it used to grow by 1.9 MB for each
	// of these clients.
	if peak, ok := echotest.PeakRSS(s.Cmd.Process.Pid); haveRSS && ok && peak-baseline > 8<<20 {
		t.Errorf("the server's peak RSS grew from %d to %d MiB", baseline>>20, peak>>20)
	}

	waiting := echotest.Dial(t, s.Addr)
	reply := make(chan error, 1)
	go func() {
		got, err := echotest.RoundTrip(waiting, []byte("my turn?\n"))
		if err == nil && string(got) != "my turn?\n" {
			err = fmt.Errorf("echo %q", got)
		}
		reply <- err
	}()
	select {
	case err := <-reply:
		t.Fatalf("a client was served while the queues were full: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	for _, c := range conns {
		c.SetLinger(0)
		c.Close()
	}
	if err := <-reply; err != nil {
		t.Fatalf("after the flooders left: %v", err)
	}
	if !echotest.WaitUntil(5*time.Second, func() bool { return s.Count("memory: the queues have room again") > 0 }) {
		t.Errorf("log: %q, want it to say that the queues have room again", s.Lines())
	}
}

// flood writes to c without reading until its writes stall for stall, and
// returns how much it wrote.
func flood(c *net.TCPConn, stall time.Duration) int {
	chunk := bytes.Repeat([]byte("flood "), (64<<10)/6)
	sent := 0
	for {
		c.SetWriteDeadline(time.Now().Add(stall))
		n, err := c.Write(chunk)
		sent += n
		if err != nil {
			return sent
		}
	}
}
