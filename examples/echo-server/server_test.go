package main_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed08bc25bd/selectors"
	"github.com/seed08bc25bd/selectors/examples/internal/echotest"
)

func TestMain(m *testing.M) {
	echotest.Main(m)
}

// The tests every backend passes, each on a server of its own.
var serverTests = []struct {
	name string
	run  func(t *testing.T, backend string)
}{
	{"RoundTrip", testRoundTrip},
	{"ThousandLinesWithAMiBLine", testThousandLines},
	{"TwoHundredClients", testTwoHundredClients},
	{"SlowReader64MiB", testSlowReader},
	{"HalfClose", testHalfClose},
	{"FiveHundredResets", testResets},
	{"StalledLog", testStalledLog},
	{"ClosedStdout", testClosedStdout},
	{"MemoryBound", testMemoryBound},
	{"IdleTimeout", testIdleTimeout},
}

func TestBackends(t *testing.T) {
	for _, backend := range append([]string{"default"}, selectors.Backends()...) {
		t.Run(backend, func(t *testing.T) {
			for _, tt := range serverTests {
				t.Run(tt.name, func(t *testing.T) { tt.run(t, backend) })
			}
		})
	}
}

func startServer(t *testing.T, backend string, args ...string) *echotest.Server {
	t.Helper()
	s := echotest.StartServer(t, append([]string{"-selector", backend}, args...)...)
	if backend != "default" && s.Backend != backend {
		t.Fatalf("-selector %s: server says it runs %q", backend, s.Backend)
	}
	return s
}

func testRoundTrip(t *testing.T, backend string) {
	s := startServer(t, backend)
	c := echotest.Dial(t, s.Addr)
	for _, msg := range []string{"hello\n", "a", "no newline here", "ünïcode ✓\n"} {
		reply, err := echotest.RoundTrip(c, []byte(msg))
		if err != nil || string(reply) != msg {
			t.Fatalf("echo of %q = %q, %v", msg, reply, err)
		}
	}
	c.Close()
	if !echotest.WaitUntil(5*time.Second, func() bool { return s.Count("disconnected ") == 1 }) {
		t.Fatalf("no disconnect logged: %q", s.Lines())
	}
	if got := s.Lines(); !strings.HasPrefix(got[0], "connected 127.0.0.1:") || got[1] != "dis"+got[0] {
		t.Errorf("log = %q, want a connect and a disconnect line", got)
	}
}

func testThousandLines(t *testing.T, backend string) {
	s := startServer(t, backend)
	c := echotest.Dial(t, s.Addr)
	all := bytes.Join(echotest.Lines(1000, 500, 1<<20), nil)
	reply, err := echotest.RoundTrip(c, all)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(reply, all) {
		t.Fatalf("the echo of %d bytes differs from byte %d", len(all), firstDiff(reply, all))
	}
}

func testTwoHundredClients(t *testing.T, backend string) {
	s := startServer(t, backend)
	const clients, rounds = 200, 5
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	start := make(chan struct{})
	for i := range clients {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", s.Addr, echotest.Timeout)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(echotest.Timeout))
			<-start
			for r := range rounds {
				msg := fmt.Appendf(nil, "client %d round %d\n", i, r)
				reply, err := echotest.RoundTrip(c, msg)
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(reply, msg) {
					errs <- fmt.Errorf("client %d: echo of %q = %q", i, msg, reply)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if !echotest.WaitUntil(10*time.Second, func() bool { return s.Count("disconnected ") == clients }) {
		t.Errorf("%d connects and %d disconnects logged, want %d", s.Count("connected "), s.Count("disconnected "), clients)
	}
}

// testSlowReader writes 64 MiB without reading until the writes stall, checks
// that the server did not buffer it and still serves others, and then reads
// it all back.
func testSlowReader(t *testing.T, backend string) {
	s := startServer(t, backend)
	if _, err := echotest.RoundTrip(echotest.Dial(t, s.Addr), []byte("warm up\n")); err != nil {
		t.Fatal(err)
	}
	baseline, haveRSS := echotest.PeakRSS(s.Cmd.Process.Pid)

	const total = 64 << 20
	seed := [32]byte{'e', 'c', 'h', 'o'}
	src := rand.NewChaCha8(seed)
	c := echotest.Dial(t, s.Addr)
	chunk := make([]byte, 256<<10)
	var pending []byte
	written := 0
	write := func(stallAfter time.Duration) error {
		for written < total {
			if len(pending) == 0 {
				pending = chunk[:min(len(chunk), total-written)]
				src.Read(pending)
			}
			c.SetWriteDeadline(time.Now().Add(stallAfter))
			n, err := c.Write(pending)
			pending, written = pending[n:], written+n
			if err != nil {
				return err
			}
		}
		return nil
	}

	// Without a reader the writes stall once the sockets' buffers and the
	// server's bounded one are full.
	err := write(500 * time.Millisecond)
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal(err)
	}
	t.Logf("%d MiB written before the writes stalled", written>>20)
	if peak, ok := echotest.PeakRSS(s.Cmd.Process.Pid); haveRSS && ok {
		t.Logf("server's peak RSS %d MiB (%d MiB before)", peak>>20, baseline>>20)
		if peak > 200<<20 || peak-baseline > 48<<20 {
			t.Errorf("server's peak RSS grew from %d MiB to %d MiB while a client did not read", baseline>>20, peak>>20)
		}
	}
	other := echotest.Dial(t, s.Addr)
	other.SetDeadline(time.Now().Add(2 * time.Second))
	if reply, err := echotest.RoundTrip(other, []byte("anyone there?\n")); err != nil || string(reply) != "anyone there?\n" {
		t.Fatalf("another client while one does not read: %q, %v", reply, err)
	}

	// Now read it all back while writing the rest.
	readErr := make(chan error, 1)
	go func() {
		want := rand.NewChaCha8(seed)
		got, exp := make([]byte, 256<<10), make([]byte, 256<<10)
		for off := 0; off < total; {
			n, err := io.ReadFull(c, got[:min(len(got), total-off)])
			want.Read(exp[:n])
			if i := firstDiff(got[:n], exp[:n]); i >= 0 {
				readErr <- fmt.Errorf("echo differs at byte %d", off+i)
				return
			}
			off += n
			if err != nil {
				readErr <- fmt.Errorf("after %d bytes: %w", off, err)
				return
			}
		}
		readErr <- nil
	}()
	if err := write(echotest.Timeout); err != nil {
		t.Fatal(err)
	}
	if err := <-readErr; err != nil {
		t.Fatal(err)
	}
}

func testHalfClose(t *testing.T, backend string) {
	s := startServer(t, backend)
	c := echotest.Dial(t, s.Addr)
	msg := bytes.Repeat([]byte("half-close "), (1<<20)/11+1)[:1<<20]
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		if err == nil {
			err = c.CloseWrite()
		}
		werr <- err
	}()
	reply, err := io.ReadAll(c) // to the server's close
	if err != nil {
		t.Fatal(err)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(reply, msg) {
		t.Fatalf("got %d bytes back of %d, differing from byte %d", len(reply), len(msg), firstDiff(reply, msg))
	}
}

// testResets connects 500 clients at once that reset their connections
// (SO_LINGER 0, then close), and checks that the server dropped every one
// it accepted and serves on. Windows drops a connection reset while it
// waits to be accepted (Go's Accept skips it there, and so does
// selectors.Accept): there the server may see fewer than 500.
func testResets(t *testing.T, backend string) {
	s := startServer(t, backend)
	pid := s.Cmd.Process.Pid
	fds, haveFDs := echotest.OpenFiles(pid)
	const clients = 500
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", s.Addr, echotest.Timeout)
			if err != nil {
				errs <- err
				return
			}
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Served, the last client shows that the server took every connection
	// queued before it.
	last := echotest.Dial(t, s.Addr)
	if reply, err := echotest.RoundTrip(last, []byte("still here\n")); err != nil || string(reply) != "still here\n" {
		t.Fatalf("after the resets: %q, %v", reply, err)
	}
	if !echotest.WaitUntil(10*time.Second, func() bool {
		return s.Count("connected ")-s.Count("disconnected ") == 1
	}) {
		t.Fatalf("%d connects and %d disconnects logged: every one but the last client's should be closed",
			s.Count("connected "), s.Count("disconnected "))
	}
	if n := s.Count("connected "); n != clients+1 && runtime.GOOS != "windows" {
		t.Errorf("%d connects logged, want %d", n, clients+1)
	}
	last.Close()
	if !echotest.WaitUntil(10*time.Second, func() bool { return s.Count("connected ") == s.Count("disconnected ") }) {
		t.Fatal("the last client's close not logged")
	}
	if n, ok := echotest.OpenFiles(pid); haveFDs && ok && n != fds {
		t.Errorf("server has %d descriptors open, %d before the resets", n, fds)
	}
}

func TestUpper(t *testing.T) {
	s := echotest.StartServer(t, "-upper")
	c := echotest.Dial(t, s.Addr)
	msg, want := "Hello, wörld! abc xyz {}\n", "HELLO, WöRLD! ABC XYZ {}\n"
	reply, err := echotest.RoundTrip(c, []byte(msg))
	if err != nil || string(reply) != want {
		t.Fatalf("echo of %q = %q, %v; want %q", msg, reply, err, want)
	}
}

func TestVerboseLogsMessages(t *testing.T) {
	s := echotest.StartServer(t, "-v")
	c := echotest.Dial(t, s.Addr)
	if _, err := echotest.RoundTrip(c, []byte("tell me\n")); err != nil {
		t.Fatal(err)
	}
	if !echotest.WaitUntil(5*time.Second, func() bool {
		return slices.ContainsFunc(s.Lines(), func(l string) bool { return strings.HasSuffix(l, `: 8 bytes "tell me\n"`) })
	}) {
		t.Fatalf("message not logged: %q", s.Lines())
	}
}

func TestQuietByDefault(t *testing.T) {
	s := echotest.StartServer(t)
	c := echotest.Dial(t, s.Addr)
	if _, err := echotest.RoundTrip(c, []byte("quiet\n")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	echotest.WaitUntil(5*time.Second, func() bool { return s.Count("disconnected ") == 1 })
	if got := s.Lines(); len(got) != 2 {
		t.Fatalf("log = %q, want only a connect and a disconnect", got)
	}
}

// TestUnknownBackend asks for backends this platform lacks: the server
// must refuse them clearly, with exit code 2.
func TestUnknownBackend(t *testing.T) {
	bin := echotest.Binary(t, echotest.ServerPkg)
	missing := []string{"no-such-backend"}
	for _, b := range []string{"kqueue", "devpoll", "epoll", "poll", "select"} {
		if !slices.Contains(selectors.Backends(), b) {
			missing = append(missing, b)
		}
	}
	for _, b := range missing {
		cmd := echotest.Command(bin, "-addr", "127.0.0.1:0", "-selector", b)
		out, err := cmd.CombinedOutput()
		if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 2 {
			t.Errorf("-selector %s: %v, want exit code 2; output %q", b, err, out)
		}
		if !strings.Contains(string(out), "-selector "+b+": not available here") {
			t.Errorf("-selector %s: output %q does not say it is not available", b, out)
		}
	}
}

func TestAddrInUse(t *testing.T) {
	s := echotest.StartServer(t)
	cmd := echotest.Command(echotest.Binary(t, echotest.ServerPkg), "-addr", s.Addr)
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), s.Addr) {
		t.Fatalf("a second server on %s: %v, output %q; want exit code 1 and why", s.Addr, err, out)
	}
}

// firstDiff returns the index of the first byte where a and b differ, or
// -1 if they are equal.
func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}
