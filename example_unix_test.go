//go:build unix

package selectors_test

import (
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/seed08bc25bd/selectors"
)

// readRaw reads what is there from c without parking the goroutine, as a
// selector loop must: a spurious readiness gives EAGAIN, not a block.
func readRaw(c syscall.Conn, buf []byte) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		n, rerr = syscall.Read(int(fd), buf)
		return true // never wait in the runtime's poller: the selector waits
	})
	if err != nil {
		return 0, err
	}
	if rerr == nil && n == 0 {
		return 0, io.EOF
	}
	return n, rerr
}

// A complete selector loop: a listener and its connections in one
// goroutine, with a callback in each key's Data.
func ExampleDefaultSelector() {
	sel, err := selectors.DefaultSelector()
	if err != nil {
		panic(err)
	}
	defer sel.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()

	type callback func(selectors.Ready) (done bool)
	onRead := func(r selectors.Ready) bool {
		conn := r.Key.FileObj.(*net.TCPConn)
		buf := make([]byte, 1024)
		n, err := readRaw(conn, buf)
		if err == syscall.EAGAIN {
			return false // spurious: wait for the next report
		}
		if err != nil {
			sel.Unregister(conn)
			conn.Close()
			return true
		}
		fmt.Printf("server got %q\n", buf[:n])
		return false
	}
	onAccept := func(r selectors.Ready) bool {
		conn, err := ln.Accept()
		if err != nil {
			return false
		}
		fmt.Println("server accepted a connection")
		sel.Register(conn, selectors.EVENT_READ, callback(onRead))
		return false
	}
	sel.Register(ln, selectors.EVENT_READ, callback(onAccept))

	// A client in another goroutine: it connects, sends and hangs up.
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			panic(err)
		}
		c.Write([]byte("hello"))
		time.Sleep(50 * time.Millisecond)
		c.Close()
	}()

	for done := false; !done; {
		ready, err := sel.Select(5 * time.Second)
		if err != nil || len(ready) == 0 {
			fmt.Println("no event:", err)
			return
		}
		for _, r := range ready {
			done = done || r.Key.Data.(callback)(r)
		}
	}
	fmt.Println("client hung up; still registered:", len(sel.GetMap()))
	// Output:
	// server accepted a connection
	// server got "hello"
	// client hung up; still registered: 1
}
