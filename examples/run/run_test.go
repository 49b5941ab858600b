//go:build unix

package main_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seed08bc25bd/selectors"
	"github.com/seed08bc25bd/selectors/examples/internal/echotest"
)

const runPkg = "github.com/seed08bc25bd/selectors/examples/run"

func TestMain(m *testing.M) {
	echotest.Main(m)
}

// The tests every backend passes.
var runTests = []struct {
	name string
	run  func(t *testing.T, backend string)
}{
	{"Relay", testRelay},
	{"ExitStatus", testExitStatus},
	{"StdinPipe", testStdinPipe},
	{"StdinFile", testStdinFile},
	{"BigBothWays", testBigBothWays},
	{"ChildIgnoresStdin", testChildIgnoresStdin},
	{"ChildExitsEndlessStdin", testChildExitsEndlessStdin},
	{"ChildClosesStdout", testChildClosesStdout},
	{"ChildClosesOutputsReadsOn", testChildClosesOutputsReadsOn},
	{"LongLine", testLongLine},
	{"GrandchildHoldsOutput", testGrandchild},
}

func TestBackends(t *testing.T) {
	for _, backend := range append([]string{"default"}, selectors.Backends()...) {
		t.Run(backend, func(t *testing.T) {
			for _, tt := range runTests {
				t.Run(tt.name, func(t *testing.T) { tt.run(t, backend) })
			}
		})
	}
}

// run runs `run -selector backend args...` with stdin (nil: the null
// device), and returns its stdout, stderr and exit code. It is killed
// after echotest.Timeout.
func run(t *testing.T, backend string, stdin io.Reader, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := echotest.Command(echotest.Binary(t, runPkg), append([]string{"-selector", backend}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &errOut
	code = echotest.Run(t, cmd)
	if strings.Contains(errOut.String(), "DATA RACE") {
		t.Errorf("run has a data race: %s", errOut.String())
	}
	return out.String(), errOut.String(), code
}

// stream returns the lines of out that begin with prefix, without it.
func stream(out, prefix string) []string {
	var lines []string
	for l := range strings.Lines(out) {
		if rest, ok := strings.CutPrefix(l, prefix); ok {
			lines = append(lines, strings.TrimSuffix(rest, "\n"))
		}
	}
	return lines
}

func testRelay(t *testing.T, backend string) {
	out, errOut, code := run(t, backend, nil, "sh", "-c", "echo one; echo two >&2; echo three; printf 'four'; printf 'five' >&2")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if got := stream(out, "out: "); !slices.Equal(got, []string{"one", "three", "four"}) {
		t.Errorf("stdout lines %q in %q", got, out)
	}
	if got := stream(out, "err: "); !slices.Equal(got, []string{"two", "five"}) {
		t.Errorf("stderr lines %q in %q", got, out)
	}
	if n := strings.Count(out, "\n"); n != 5 || !strings.HasSuffix(out, "\n") {
		t.Errorf("output %q: want 5 whole lines", out)
	}
}

func testExitStatus(t *testing.T, backend string) {
	for _, tc := range []struct {
		script string
		code   int
	}{
		{"exit 3", 3},
		{"exit 0", 0},
		{"kill -TERM $$", 128 + 15},
		{"kill -KILL $$", 128 + 9},
	} {
		if _, errOut, code := run(t, backend, nil, "sh", "-c", tc.script); code != tc.code {
			t.Errorf("run sh -c %q: exit %d, want %d; stderr %q", tc.script, code, tc.code, errOut)
		}
	}
	_, errOut, code := run(t, backend, nil, "no-such-command-here")
	if code != 127 || !strings.Contains(errOut, "no-such-command-here") {
		t.Errorf("a command not found: exit %d, stderr %q; want 127 and why", code, errOut)
	}
}

func testStdinPipe(t *testing.T, backend string) {
	out, errOut, code := run(t, backend, strings.NewReader("hello\nworld\nno newline"), "cat")
	if want := "out: hello\nout: world\nout: no newline\n"; out != want || code != 0 {
		t.Fatalf("stdout %q, stderr %q, exit %d; want stdout %q", out, errOut, code, want)
	}
}

// testStdinFile gives run a regular file and the null device as stdin,
// which epoll refuses to watch.
func testStdinFile(t *testing.T, backend string) {
	name := filepath.Join(t.TempDir(), "input")
	if err := os.WriteFile(name, []byte("from\na file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{name: "out: from\nout: a file\n", os.DevNull: ""} {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		out, errOut, code := run(t, backend, f, "cat")
		f.Close()
		if out != want || code != 0 {
			t.Errorf("run cat < %s: stdout %q, stderr %q, exit %d; want stdout %q", file, out, errOut, code, want)
		}
	}
}

// testBigBothWays feeds 8 MiB to a command that echoes it on stdout while
// it writes 200,000 lines on stderr: neither run nor the command may wait
// for the other.
func testBigBothWays(t *testing.T, backend string) {
	in := bytes.Join(echotest.Lines(100000, 50000, 1<<20), nil)
	start := time.Now()
	out, errOut, code := run(t, backend, bytes.NewReader(in), "sh", "-c", "yes e | head -n 200000 >&2 & cat; wait")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	t.Logf("%d bytes in, %d out in %v", len(in), len(out), time.Since(start))
	var echoed []byte
	for _, l := range stream(out, "out: ") {
		echoed = append(append(echoed, l...), '\n')
	}
	// The 1 MiB line comes back in pieces of 64 KiB, each a line.
	if got := bytes.ReplaceAll(echoed, []byte("\n"), nil); !bytes.Equal(got, bytes.ReplaceAll(in, []byte("\n"), nil)) {
		t.Errorf("stdout relayed %d bytes of the %d sent", len(echoed), len(in))
	}
	errs := stream(out, "err: ")
	if len(errs) != 200000 || slices.IndexFunc(errs, func(l string) bool { return l != "e" }) >= 0 {
		t.Errorf("%d lines relayed from stderr, want 200000 lines \"e\"", len(errs))
	}
}

// testChildIgnoresStdin: a command that closes its stdin unread, or never
// reads it, gets no more input (run meets EPIPE), and run exits with it.
func testChildIgnoresStdin(t *testing.T, backend string) {
	in := bytes.Repeat([]byte("unread\n"), 1<<20)
	for _, script := range []string{"exec <&-; echo bye", "echo bye"} {
		out, errOut, code := run(t, backend, bytes.NewReader(in), "sh", "-c", script)
		if out != "out: bye\n" || code != 0 {
			t.Errorf("sh -c %q with 7 MiB of input: stdout %q, stderr %q, exit %d", script, out, errOut, code)
		}
	}
}

// testChildExitsEndlessStdin: run exits when the command does, though its
// own input never ends.
func testChildExitsEndlessStdin(t *testing.T, backend string) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer w.Close()
		line := []byte("more\n")
		for {
			if _, err := w.Write(line); err != nil {
				return // run is gone: the pipe is broken
			}
		}
	}()
	out, errOut, code := run(t, backend, r, "sh", "-c", "head -n 3")
	r.Close()
	<-done
	if out != "out: more\nout: more\nout: more\n" || code != 0 {
		t.Errorf("stdout %q, stderr %q, exit %d", out, errOut, code)
	}
}

func testChildClosesStdout(t *testing.T, backend string) {
	out, errOut, code := run(t, backend, nil, "sh", "-c", "exec >&-; echo e1 >&2; sleep 0.2; echo e2 >&2; exit 4")
	if out != "err: e1\nerr: e2\n" || code != 4 {
		t.Errorf("stdout %q, stderr %q, exit %d", out, errOut, code)
	}
}

// testChildClosesOutputsReadsOn: a command that closes both outputs
// still gets all its input.
func testChildClosesOutputsReadsOn(t *testing.T, backend string) {
	name := filepath.Join(t.TempDir(), "copy")
	in := bytes.Join(echotest.Lines(20000, -1, 0), nil)
	out, errOut, code := run(t, backend, bytes.NewReader(in), "sh", "-c", `exec >&- 2>&-; sleep 0.1; cat > "$0"`, name)
	if out != "" || code != 0 {
		t.Fatalf("stdout %q, stderr %q, exit %d", out, errOut, code)
	}
	if got, err := os.ReadFile(name); err != nil || !bytes.Equal(got, in) {
		t.Errorf("the command read %d bytes of %d: %v", len(got), len(in), err)
	}
}

// testLongLine: a line longer than 64 KiB comes in pieces of 64 KiB.
func testLongLine(t *testing.T, backend string) {
	in := bytes.Repeat([]byte("0123456789abcdef"), (150<<10)/16) // 150 KiB, no newline
	out, errOut, code := run(t, backend, bytes.NewReader(in), "cat")
	lines := stream(out, "out: ")
	if code != 0 || len(lines) != 3 || len(lines[0]) != 64<<10 || len(lines[1]) != 64<<10 ||
		strings.Join(lines, "") != string(in) {
		t.Fatalf("exit %d, stderr %q; %d lines relayed (%d bytes of output), want 64 KiB, 64 KiB and the rest",
			code, errOut, len(lines), len(out))
	}
}

// testGrandchild: a process the command left behind holds its stdout: run
// relays what it writes until it closes it, as communicate waits for it.
func testGrandchild(t *testing.T, backend string) {
	start := time.Now()
	out, errOut, code := run(t, backend, nil, "sh", "-c", "(sleep 0.3; echo late) & echo early")
	if out != "out: early\nout: late\n" || code != 0 {
		t.Fatalf("stdout %q, stderr %q, exit %d", out, errOut, code)
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("run returned after %v, before the grandchild wrote", took)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"-selector", "no-such-backend", "true"}} {
		cmd := echotest.Command(echotest.Binary(t, runPkg), args...)
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 2 || len(out) == 0 {
			t.Errorf("run %q: exit %d, output %q; want 2 and why", args, code, out)
		}
	}
}
