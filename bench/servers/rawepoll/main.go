//go:build linux

// Command rawepoll is the echo server with no library: one goroutine, one
// level-triggered epoll set, non-blocking accept4, read and write on raw
// descriptors through golang.org/x/sys/unix. It is the floor that a Go
// event loop over the kernel can reach, to measure the selectors package
// against.
//
// A write that takes part of a reply keeps the rest and watches EPOLLOUT
// instead of EPOLLIN until it drains, so a client that does not read
// cannot grow the server's memory.
//
// Every 4 ms at most (checked every 32 waits) the loop yields to the Go
// scheduler before it waits, as the selectors package does: a goroutine
// that has not been through the scheduler for 10 ms loses its P at each
// system call it is caught in, which costs a loop that blocks thousands of
// times a second a thread switch or two per wait (see yieldAfter in
// selectors.go). Without it this server would not be the floor.
//
// Usage:
//
//	rawepoll [-addr 127.0.0.1:0] [-lifetime 10m]
//
// Its first line on stdout is "listening on <host:port> (rawepoll)".
package main

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

const (
	readSize    = 64 << 10
	acceptBurst = 64
	maxEvents   = 256
)

// conn is what a connection has not sent yet: out[head:].
type conn struct {
	out  []byte
	head int
}

type server struct {
	ep    int
	ln    int
	buf   []byte
	conns []*conn // by descriptor: the fastest lookup there is
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen on `host:port` (IPv4; port 0 picks one)")
	lifetime := flag.Duration("lifetime", 10*time.Minute, "exit after this long, whatever happens")
	flag.Parse()

	// The bench kills the server after each run; this is the bound if
	// the script itself is killed first.
	time.AfterFunc(*lifetime, func() { os.Exit(3) })

	s, bound, err := start(*addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rawepoll:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s (rawepoll)\n", bound)
	if err := s.loop(); err != nil {
		fmt.Fprintln(os.Stderr, "rawepoll:", err)
		os.Exit(1)
	}
}

// start opens the non-blocking listener and the epoll set.
func start(addr string) (*server, netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return nil, ap, fmt.Errorf("-addr %q: want an IPv4 host:port", addr)
	}
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, ap, fmt.Errorf("socket: %w", err)
	}
	if err := unix.SetsockoptInt(ln, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return nil, ap, fmt.Errorf("SO_REUSEADDR: %w", err)
	}
	if err := unix.Bind(ln, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
		return nil, ap, fmt.Errorf("bind %s: %w", addr, err)
	}
	if err := unix.Listen(ln, 4096); err != nil {
		return nil, ap, fmt.Errorf("listen: %w", err)
	}
	sa, err := unix.Getsockname(ln)
	if err != nil {
		return nil, ap, fmt.Errorf("getsockname: %w", err)
	}
	sa4 := sa.(*unix.SockaddrInet4)
	bound := netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), uint16(sa4.Port))

	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, ap, fmt.Errorf("epoll_create1: %w", err)
	}
	s := &server{ep: ep, ln: ln, buf: make([]byte, readSize)}
	if err := s.ctl(unix.EPOLL_CTL_ADD, ln, unix.EPOLLIN); err != nil {
		return nil, ap, err
	}
	return s, bound, nil
}

func (s *server) ctl(op, fd int, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	if err := unix.EpollCtl(s.ep, op, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl %d fd %d: %w", op, fd, err)
	}
	return nil
}

func (s *server) loop() error {
	events := make([]unix.EpollEvent, maxEvents)
	var yielded time.Time
	for waits := uint32(1); ; waits++ {
		if waits%32 == 0 && time.Since(yielded) >= 4*time.Millisecond {
			runtime.Gosched()
			yielded = time.Now()
		}
		n, err := unix.EpollWait(s.ep, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("epoll_wait: %w", err)
		}
		for _, ev := range events[:n] {
			fd := int(ev.Fd)
			if fd == s.ln {
				s.accept()
				continue
			}
			s.serve(fd, ev.Events)
		}
	}
}

// accept takes a burst of waiting connections at most, so the others get
// their turn.
func (s *server) accept() {
	for range acceptBurst {
		fd, _, err := unix.Accept4(s.ln, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err == unix.EINTR || err == unix.ECONNABORTED {
			continue
		}
		if err != nil {
			// EAGAIN: all taken. Anything else (EMFILE) is not what a
			// benchmark should hit: report it and go on.
			if err != unix.EAGAIN {
				fmt.Fprintln(os.Stderr, "rawepoll: accept:", err)
			}
			return
		}
		// As Go's net package and gnet do: a reply goes out at once.
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		if err := s.ctl(unix.EPOLL_CTL_ADD, fd, unix.EPOLLIN); err != nil {
			fmt.Fprintln(os.Stderr, "rawepoll:", err)
			unix.Close(fd)
			continue
		}
		for fd >= len(s.conns) {
			s.conns = append(s.conns, nil)
		}
		s.conns[fd] = &conn{}
	}
}

// serve handles one connection's events: it drains what is pending when
// writable, and echoes what arrives when readable. A hang-up or error is
// found by the read or write it makes fail.
func (s *server) serve(fd int, events uint32) {
	c := s.conns[fd]
	if c == nil {
		return
	}
	if len(c.out) > 0 {
		if events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			if err := s.flush(fd, c); err != nil {
				s.close(fd)
			}
		}
		return
	}
	if events&(unix.EPOLLIN|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
		return
	}
	n, err := unix.Read(fd, s.buf)
	if err == unix.EAGAIN || err == unix.EINTR {
		return // level-triggered: it is reported again if still ready
	}
	if err != nil || n == 0 {
		s.close(fd)
		return
	}
	w, err := unix.Write(fd, s.buf[:n])
	if err != nil && err != unix.EAGAIN && err != unix.EINTR {
		s.close(fd)
		return
	}
	w = max(w, 0)
	if w < n {
		c.out = append(c.out[:0], s.buf[w:n]...)
		c.head = 0
		// Stop reading until the reply drains: back-pressure.
		if err := s.ctl(unix.EPOLL_CTL_MOD, fd, unix.EPOLLOUT); err != nil {
			s.close(fd)
		}
	}
}

// flush sends what is pending; once all of it is out the connection is
// read again.
func (s *server) flush(fd int, c *conn) error {
	for c.head < len(c.out) {
		n, err := unix.Write(fd, c.out[c.head:])
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return nil
		}
		if err != nil {
			return err
		}
		c.head += n
	}
	c.out, c.head = c.out[:0], 0
	return s.ctl(unix.EPOLL_CTL_MOD, fd, unix.EPOLLIN)
}

func (s *server) close(fd int) {
	// Closing removes it from the epoll set: no one else holds a dup.
	if err := unix.Close(fd); err != nil && !errors.Is(err, unix.EINTR) {
		fmt.Fprintln(os.Stderr, "rawepoll: close:", err)
	}
	s.conns[fd] = nil
}
