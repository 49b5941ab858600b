package selectors_test

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/seed08bc25bd/selectors"
)

// A complete selector loop: a listener and its connections in one
// goroutine, with a callback in each key's Data. Accept and Read never
// wait: the selector does.
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
		conn := r.Key.FileObj.(net.Conn)
		buf := make([]byte, 1024)
		n, err := selectors.Read(conn, buf)
		if errors.Is(err, selectors.ErrWouldBlock) {
			return false // spurious: wait for the next report
		}
		if err != nil { // io.EOF: the client hung up
			sel.Unregister(conn)
			conn.Close()
			return true
		}
		fmt.Printf("server got %q\n", buf[:n])
		return false
	}
	onAccept := func(r selectors.Ready) bool {
		conn, err := selectors.Accept(ln)
		if err != nil {
			return false // ErrWouldBlock: another took it, or it was reset
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
