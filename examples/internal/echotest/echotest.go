// Package echotest runs the echo examples as a user would, as separate
// processes built with go build, for their tests.
package echotest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The examples' import paths.
const (
	ServerPkg = "github.com/seed08bc25bd/selectors/examples/echo-server"
	ClientPkg = "github.com/seed08bc25bd/selectors/examples/echo-client"
)

// Timeout bounds every wait of a test: a conn's deadline, a process's run.
const Timeout = 60 * time.Second

var (
	binDir   string
	buildMu  sync.Mutex
	binaries = map[string]string{}
)

// Main runs a package's tests with a directory for the binaries that
// Binary builds, removed afterwards.
func Main(m *testing.M) {
	dir, err := os.MkdirTemp("", "echotest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Binary builds the command pkg once per test binary, with the race
// detector if the tests have it, and returns the executable's path.
func Binary(t testing.TB, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := binaries[pkg]; ok {
		return bin
	}
	if binDir == "" {
		t.Fatal("echotest: TestMain must call echotest.Main")
	}
	bin := filepath.Join(binDir, filepath.Base(pkg))
	if exe := filepath.Ext(os.Args[0]); exe == ".exe" {
		bin += exe
	}
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command(goTool(), append(args, pkg)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	binaries[pkg] = bin
	return bin
}

func goTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); fileExists(p) || fileExists(p+".exe") {
			return p
		}
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Command is exec.Command for a binary that Binary built. With the race
// detector it makes the binary exit at once when it is done (the detector
// waits a second by default) and fail at the first race.
func Command(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	if raceEnabled {
		cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0 halt_on_error=1 "+os.Getenv("GORACE"))
	}
	return cmd
}

// Run runs cmd to its end, killing it after Timeout, and returns its exit
// code. An error other than an exit status fails the test.
func Run(t testing.TB, cmd *exec.Cmd) (code int) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(Timeout, func() { cmd.Process.Kill() })
	defer timer.Stop()
	if err := cmd.Wait(); err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatal(err)
		}
	}
	return cmd.ProcessState.ExitCode()
}

// NeedTool returns the path of a tool a test runs, such as nc. A missing
// tool skips the test, except in CI (CI=true), where it fails it.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is needed in CI: %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}

// Server is a running echo-server.
type Server struct {
	Addr    string // where it listens, from its first line
	Backend string // its selector's backend, from its first line
	Cmd     *exec.Cmd

	stderr bytes.Buffer
	exited chan struct{} // closed once Cmd.Wait has returned
	err    error         // Cmd.Wait's

	mu    sync.Mutex
	lines []string // stdout, after the first line
}

var firstLine = regexp.MustCompile(`^listening on (127\.0\.0\.1:[1-9][0-9]*) \(([a-z]+)\)$`)

// StartServer starts echo-server on a free port of 127.0.0.1 with args
// and reads its first line. The server is killed when the test ends, if
// it still runs.
func StartServer(t testing.TB, args ...string) *Server {
	t.Helper()
	bin := Binary(t, ServerPkg)
	s := &Server{exited: make(chan struct{})}
	s.Cmd = Command(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	s.Cmd.Stderr = &s.stderr
	stdout, err := s.Cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	first := make(chan string, 1)
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		// The server logs every connect: keep reading, or it would block
		// on a full pipe.
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		if sc.Scan() {
			first <- sc.Text()
		}
		close(first)
		for sc.Scan() {
			s.mu.Lock()
			s.lines = append(s.lines, sc.Text())
			s.mu.Unlock()
		}
	}()
	go func() {
		<-outDone // Wait closes the pipe: read it all first
		s.err = s.Cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.Cmd.Process.Kill()
		<-s.exited
		if strings.Contains(s.stderr.String(), "DATA RACE") {
			t.Error("the server has a data race")
		}
		if t.Failed() {
			t.Logf("server %v: %v\nstderr: %s\nlast stdout lines:\n%s",
				s.Cmd.Args, s.err, s.stderr.String(), strings.Join(lastN(s.Lines(), 30), "\n"))
		}
	})

	select {
	case line, ok := <-first:
		m := firstLine.FindStringSubmatch(line)
		if !ok || m == nil {
			<-s.exited
			t.Fatalf("server's first line is %q, want \"listening on <host:port> (<backend>)\"; stderr: %s", line, s.stderr.String())
		}
		s.Addr, s.Backend = m[1], m[2]
	case <-time.After(Timeout):
		t.Fatal("no first line from the server")
	}
	return s
}

func lastN(lines []string, n int) []string {
	return lines[max(0, len(lines)-n):]
}

// Lines returns what the server logged after its first line, so far.
func (s *Server) Lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

// Count returns how many of the lines logged so far begin with prefix.
func (s *Server) Count(prefix string) int {
	n := 0
	for _, l := range s.Lines() {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// WaitUntil polls cond until it holds or timeout passes, and reports which.
func WaitUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// Wait waits at most timeout for the server to exit, and returns its
// exit code, or -1 if it still runs.
func (s *Server) Wait(timeout time.Duration) int {
	select {
	case <-s.exited:
		return s.Cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		return -1
	}
}

// Stderr returns what the server wrote to stderr; call it once it exited.
func (s *Server) Stderr() string {
	<-s.exited
	return s.stderr.String()
}

// Dial connects to addr with a deadline of Timeout on every read and write.
func Dial(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, Timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(Timeout))
	return c.(*net.TCPConn)
}

// RoundTrip sends msg on c, reads as many bytes back and returns them.
func RoundTrip(c net.Conn, msg []byte) ([]byte, error) {
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		errc <- err
	}()
	reply := make([]byte, len(msg))
	_, rerr := io.ReadFull(c, reply)
	if werr := <-errc; werr != nil {
		return nil, werr
	}
	return reply, rerr
}

// Lines returns n distinct lines, each ending in a newline, the one at
// index big (if in range) bigLen bytes long.
func Lines(n, big, bigLen int) [][]byte {
	lines := make([][]byte, n)
	for i := range lines {
		if i == big {
			l := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz"), bigLen/36+1)[:bigLen-1]
			lines[i] = append(l, '\n')
			continue
		}
		lines[i] = fmt.Appendf(nil, "line %d: the quick brown fox, %s\n", i, strings.Repeat("x", i%50))
	}
	return lines
}
