//go:build unix

package main_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seed08bc25bd/selectors/examples/internal/echotest"
)

// pythonServer is a server nobody here wrote: the articles' selectors
// echo server, with sendall so that it echoes all it reads. It prints its
// port, then serves until killed.
const pythonServer = `
import selectors, socket, sys
sel = selectors.DefaultSelector()

def accept(sock, mask):
    conn, addr = sock.accept()
    sel.register(conn, selectors.EVENT_READ, read)

def read(conn, mask):
    data = conn.recv(65536)
    if data:
        conn.setblocking(True)
        conn.sendall(data.upper())
        conn.setblocking(False)
    else:
        sel.unregister(conn)
        conn.close()

sock = socket.socket()
sock.bind(("127.0.0.1", 0))
sock.listen(100)
sock.setblocking(False)
sel.register(sock, selectors.EVENT_READ, accept)
print(sock.getsockname()[1], flush=True)
while True:
    for key, mask in sel.select():
        key.data(key.fileobj, mask)
`

func TestPythonServer(t *testing.T) {
	python := echotest.NeedTool(t, "python3")
	cmd := exec.Command(python, "-c", pythonServer)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start(t, cmd)
	portLine, err := bufio.NewReader(stdout).ReadString('\n')
	port, perr := strconv.Atoi(strings.TrimSpace(portLine))
	if err != nil || perr != nil {
		t.Fatalf("python3 server's port: %q, %v, %v", portLine, err, perr)
	}

	in := bytes.Join(echotest.Lines(200, 100, 256<<10), nil)
	out, errOut, code := client(t, fmt.Sprintf("127.0.0.1:%d", port), in)
	if code != 0 || out != strings.ToUpper(string(in)) {
		t.Fatalf("exit %d, stderr %q; stdout is %d bytes, want the %d bytes sent in upper case", code, errOut, len(out), len(in))
	}
}

// TestNetcatServer has OpenBSD's nc listen, and the test answer through it
// as a server would.
func TestNetcatServer(t *testing.T) {
	nc := echotest.NeedTool(t, "nc")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	ln.Close()

	cmd := exec.Command(nc, "-l", "127.0.0.1", port)
	toClient, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	fromClient, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start(t, cmd)
	served := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(fromClient).ReadString('\n')
		if err == nil && line != "hello nc\n" {
			err = fmt.Errorf("nc received %q", line)
		}
		if err == nil {
			_, err = io.WriteString(toClient, "hello from nc\n")
		}
		served <- err
	}()

	// nc may not listen yet: a refused client tries again, which does not
	// use up nc's one connection.
	var out, errOut string
	var code int
	for try := 0; ; try++ {
		out, errOut, code = client(t, addr, []byte("hello nc\n"))
		if code == 0 || !strings.Contains(errOut, "refused") || try == 100 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if out != "hello from nc\n" || code != 0 {
		t.Fatalf("stdout %q, stderr %q, exit %d", out, errOut, code)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

// start starts cmd, to be killed when the test ends.
func start(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
}
