package main_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/seed08bc25bd/selectors/examples/internal/echotest"
)

// TestStdoutFails: a reply that cannot be printed (/dev/full: ENOSPC)
// fails the client with a message, not in silence.
func TestStdoutFails(t *testing.T) {
	s := echotest.StartServer(t)
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	errOut, code := runClient(t, strings.NewReader("hello\n"), full, "-addr", s.Addr)
	if code != 1 || !strings.Contains(errOut, "writing stdout") {
		t.Fatalf("echo-client > /dev/full: stderr %q, exit %d; want exit 1 and why", errOut, code)
	}
}

// TestPromptOnTerminal: stdin a terminal (a pseudo-terminal here) gets the
// prompt before each line, and a newline after the end of input (^D).
func TestPromptOnTerminal(t *testing.T) {
	s := echotest.StartServer(t)
	ptmx, tty := echotest.OpenPTY(t)
	// Typed ahead: the terminal's line discipline hands the client one
	// line per read, and ^D at the start of a line as the end of input.
	if _, err := ptmx.WriteString("hello\n\x04"); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	errOut, code := runClient(t, tty, &out, "-addr", s.Addr)
	if want := ">>: hello\n>>: \n"; out.String() != want || code != 0 {
		t.Fatalf("stdout %q, stderr %q, exit %d; want stdout %q", out.String(), errOut, code, want)
	}
}
