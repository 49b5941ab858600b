//go:build linux

// Command ours is the echo server that measures the selectors package
// itself: one selector loop, built as lean as rawepoll, beside which it
// runs. Where examples/echo-server teaches (Go's own types, idle timers,
// a memory bound, a log), this one does only what rawepoll does, through
// the library: DefaultSelector, SelectInto, and Read and Write on the
// descriptors of the keys, which cost what read(2) and write(2) cost.
//
// A write that takes part of a reply keeps the rest and watches
// EVENT_WRITE instead of EVENT_READ until it drains, so a client that does
// not read cannot grow the server's memory.
//
// Usage:
//
//	ours [-addr 127.0.0.1:0] [-lifetime 10m]
//
// Its first line on stdout is "listening on <host:port> (ours)".
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/seed08bc25bd/selectors"
	"golang.org/x/sys/unix"
)

const (
	readSize    = 64 << 10
	acceptBurst = 64
)

// conn is one client: its descriptor, and what it has not sent yet,
// out[head:]. The descriptor is kept as a file object too, boxed once, so
// that Read and Write take it without converting an int at each call.
type conn struct {
	fd     int
	obj    any
	out    []byte
	head   int
	events selectors.Events
}

// listener is the listener's Data.
type listener struct{}

type server struct {
	sel selectors.Selector
	ln  *net.TCPListener
	buf []byte
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen on `host:port` (port 0 picks one)")
	lifetime := flag.Duration("lifetime", 10*time.Minute, "exit after this long, whatever happens")
	flag.Parse()

	// The bench kills the server after each run; this is the bound if
	// the script itself is killed first.
	time.AfterFunc(*lifetime, func() { os.Exit(3) })

	fmt.Fprintln(os.Stderr, "ours:", serve(*addr))
	os.Exit(1)
}

// serve runs the server until it fails.
func serve(addr string) error {
	sel, err := selectors.DefaultSelector()
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s := &server{sel: sel, ln: l.(*net.TCPListener), buf: make([]byte, readSize)}
	if _, err := sel.Register(s.ln, selectors.EVENT_READ, listener{}); err != nil {
		return err
	}
	fmt.Printf("listening on %s (ours)\n", l.Addr())
	ready := make([]selectors.Ready, 0, 256)
	for {
		if ready, err = sel.SelectInto(ready[:0], -1); err != nil {
			return err
		}
		for i := range ready {
			r := &ready[i]
			if c, ok := r.Key.Data.(*conn); ok {
				c.handle(s, r.Mask)
			} else {
				s.accept()
			}
		}
	}
}

// accept takes the connections waiting, a burst at most, as descriptors
// of its own, as rawepoll does: a net.Conn (selectors.Accept's) would also
// be in the Go runtime's network poller, whose epoll set the kernel then
// wakes at every event too, and whose thread may wake with it.
func (s *server) accept() {
	rc, err := s.ln.SyscallConn()
	if err != nil {
		return
	}
	for range acceptBurst {
		fd := -1
		if rc.Control(func(ln uintptr) {
			fd, _, err = unix.Accept4(int(ln), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		}) != nil || err != nil {
			return // none left, or a failure rawepoll does not handle either
		}
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		c := &conn{fd: fd, obj: fd, events: selectors.EVENT_READ}
		if _, err := s.sel.Register(fd, c.events, c); err != nil {
			unix.Close(fd)
		}
	}
}

// handle sends what c has pending, or reads and echoes what arrived.
func (c *conn) handle(s *server, mask selectors.Events) {
	if mask&selectors.EVENT_WRITE != 0 {
		n, err := selectors.Write(c.obj, c.out[c.head:])
		if c.head += n; c.head == len(c.out) {
			c.out, c.head = c.out[:0], 0
		}
		if err != nil && !errors.Is(err, selectors.ErrWouldBlock) {
			s.close(c)
			return
		}
	} else if mask&selectors.EVENT_READ != 0 {
		n, err := selectors.Read(c.obj, s.buf)
		switch {
		case n > 0:
			w, werr := selectors.Write(c.obj, s.buf[:n])
			if werr != nil && !errors.Is(werr, selectors.ErrWouldBlock) {
				s.close(c)
				return
			}
			if w < n {
				c.out = append(c.out, s.buf[w:n]...)
			}
		case err == io.EOF:
			s.close(c)
			return
		case errors.Is(err, selectors.ErrWouldBlock):
			return
		default:
			s.close(c)
			return
		}
	}
	want := selectors.EVENT_READ
	if len(c.out) > c.head {
		want = selectors.EVENT_WRITE
	}
	if want != c.events {
		c.events = want
		if _, err := s.sel.Modify(c.fd, want, c); err != nil {
			s.close(c)
		}
	}
}

func (s *server) close(c *conn) {
	_, _ = s.sel.Unregister(c.fd)
	unix.Close(c.fd)
}
