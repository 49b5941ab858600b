// Command echo-server is the selectors echo server of the Python articles,
// in Go: one goroutine runs one selector loop, and every registered socket
// carries its callback in its key's Data (an acceptor for the listener, the
// conn itself for a connection).
//
// It also does what their Python leaves out. Every accept, read and write
// is a non-blocking call on the raw socket, so nothing parks the loop. A
// write that takes part of the data keeps the rest in the connection's
// buffer and watches EVENT_WRITE until it drains, and a connection with
// more than maxPending bytes unsent is not read until its peer takes some:
// a client that sends and never reads cannot grow the server's memory. A
// client that half-closes still gets its whole echo; one that resets is
// dropped without disturbing the others. SIGINT or SIGTERM closes every
// connection and the selector, and the server exits 0.
//
// Usage:
//
//	echo-server [-addr 127.0.0.1:8088] [-upper] [-v] [-selector default]
//
// Its first line on stdout is "listening on <host:port> (<backend>)"; then
// one line per connect and disconnect, and with -v one per message.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/seed08bc25bd/selectors"
)

const (
	readSize    = 64 << 10 // one read; the loop shares one buffer of this size
	maxPending  = 1 << 20  // a connection with more unsent than this is not read
	acceptBurst = 64       // accepts per readiness, so connections get their turn
	acceptPause = 100 * time.Millisecond
)

// What every key's Data holds is a handler, an acceptor or a *conn: the
// loop calls its handle with the ready events, as the articles' loop calls
// key.data.

// acceptor is the listener's handler.
type acceptor struct{ s *server }

func (a acceptor) handle(selectors.Events) { a.s.accept() }

type server struct {
	sel     selectors.Selector
	ln      *net.TCPListener
	upper   bool
	verbose bool
	log     io.Writer
	buf     []byte           // the read buffer of every connection: one goroutine uses it
	conns   map[*conn]string // every open connection, and its peer's address for the log

	// stop is the signal that ends the loop, stored by the goroutine that
	// receives it before it wakes the loop.
	stop atomic.Pointer[os.Signal]

	// resumeAccept is when to watch the listener again after an accept
	// error such as EMFILE, which would otherwise report it ready forever.
	resumeAccept time.Time
}

// conn is one client: its socket and what it sent that is not echoed yet.
// Its peer's address, read only for the log, is kept in server.conns: the
// conn is then 56 bytes, which the allocator puts in a 64-byte slot on one
// cache line, where with the address it took an 80-byte slot across two
// (side by side at 200 connections, 1–2% of the server's user time in
// two runs, at the edge of their noise).
// TestConnFitsACacheLine keeps it so.
type conn struct {
	srv    *server
	s      socket
	out    []byte // out[head:] is still to be sent
	head   int
	events selectors.Events // as registered
	eof    bool             // the client has sent all it will: close once out drains
	closed bool
}

func (c *conn) pending() int { return len(c.out) - c.head }

// wanted is the events the connection needs now; none means it is done.
func (c *conn) wanted() selectors.Events {
	var ev selectors.Events
	if !c.eof && c.pending() <= maxPending {
		ev |= selectors.EVENT_READ
	}
	if c.pending() > 0 {
		ev |= selectors.EVENT_WRITE
	}
	return ev
}

// queue appends p to what is still to be sent, reusing the space already
// sent when that saves growing the buffer.
func (c *conn) queue(p []byte) {
	if len(p) == 0 {
		return
	}
	if c.head > 0 && cap(c.out)-len(c.out) < len(p) {
		c.out = c.out[:copy(c.out, c.out[c.head:])]
		c.head = 0
	}
	c.out = append(c.out, p...)
}

func main() {
	os.Exit(run())
}

func run() int {
	addr := flag.String("addr", "127.0.0.1:8088", "listen on `host:port` (port 0 picks a free port)")
	upper := flag.Bool("upper", false, "reply in ASCII upper case")
	verbose := flag.Bool("v", false, "log every message")
	backend := flag.String("selector", "default",
		"selector `backend`: default, or one this platform has: "+strings.Join(selectors.Backends(), ", "))
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		return 2
	}

	sel, err := selectors.New(*backend)
	if errors.Is(err, errors.ErrUnsupported) {
		fmt.Fprintf(os.Stderr, "echo-server: -selector %s: not available here; this platform has: default, %s\n",
			*backend, strings.Join(selectors.Backends(), ", "))
		return 2
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo-server:", err)
		return 1
	}
	defer sel.Close()

	ln, err := listen(*addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo-server:", err)
		return 1
	}
	defer ln.Close()

	s := &server{
		sel:     sel,
		ln:      ln,
		upper:   *upper,
		verbose: *verbose,
		log:     os.Stdout,
		buf:     make([]byte, readSize),
		conns:   make(map[*conn]string),
	}
	if _, err := sel.Register(ln, selectors.EVENT_READ, acceptor{s}); err != nil {
		fmt.Fprintln(os.Stderr, "echo-server:", err)
		return 1
	}

	// The loop blocks in Select, so a signal cannot reach it through a
	// channel: this goroutine hands the signal over and wakes the loop.
	// It is set up before the first line, which scripts wait for: a signal
	// sent as soon as they read it must shut down, not kill.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-signals
		signal.Stop(signals) // a second Ctrl-C kills at once
		s.stop.Store(&sig)
		_ = sel.Wakeup() // fails only once the loop has closed the selector
	}()
	fmt.Fprintf(s.log, "listening on %s (%s)\n", ln.Addr(), selectors.BackendName(sel))

	err = s.loop()
	s.shutdown()
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo-server:", err)
		return 1
	}
	return 0
}

// listen opens the listening socket, in non-blocking mode.
func listen(addr string) (*net.TCPListener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	ln := l.(*net.TCPListener)
	if err := prepareListener(ln); err != nil {
		ln.Close()
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return ln, nil
}

// loop runs handlers until a signal is stored in s.stop or Select fails.
func (s *server) loop() error {
	ready := make([]selectors.Ready, 0, 64)
	for {
		timeout := time.Duration(-1)
		if !s.resumeAccept.IsZero() {
			timeout = max(0, time.Until(s.resumeAccept))
		}
		var err error
		ready, err = s.sel.SelectInto(ready[:0], timeout)
		if err != nil {
			return err
		}
		for i := range ready {
			// Assertions to the two handler types, not to an interface:
			// each compares the type word with a constant, where an
			// assertion to an interface, or a type switch, first reads
			// the runtime's type data, memory that a busy server's
			// profile found cold again after every handler's system calls.
			r := &ready[i]
			if c, ok := r.Key.Data.(*conn); ok {
				c.handle(r.Mask)
			} else if a, ok := r.Key.Data.(acceptor); ok {
				a.handle(r.Mask)
			}
		}
		// An atomic load, not a receive from a channel: this runs after
		// every Select, and a busy server's profile found the receive there.
		if sig := s.stop.Load(); sig != nil {
			fmt.Fprintf(s.log, "%v: shutting down\n", *sig)
			return nil
		}
		if !s.resumeAccept.IsZero() && !time.Now().Before(s.resumeAccept) {
			s.resumeAccept = time.Time{}
			if _, err := s.sel.Register(s.ln, selectors.EVENT_READ, acceptor{s}); err != nil {
				return err
			}
		}
	}
}

// shutdown closes every connection, the listener and the selector.
func (s *server) shutdown() {
	for c := range s.conns {
		s.close(c, errors.New("server shutting down"))
	}
	s.ln.Close()
	s.sel.Close()
}

// accept takes the connections waiting on the listener, a burst at most.
func (s *server) accept() {
	for range acceptBurst {
		sock, peer, err := accept(s.ln)
		if wouldBlock(err) {
			return // all taken, or a spurious report
		}
		if connAborted(err) {
			continue // the client gave up before we took it
		}
		if err != nil {
			// Out of descriptors, most likely: the listener stays ready,
			// so stop watching it for a while instead of spinning.
			fmt.Fprintf(s.log, "accept: %v (pausing accepts for %v)\n", err, acceptPause)
			s.resumeAccept = time.Now().Add(acceptPause)
			if _, err := s.sel.Unregister(s.ln); err != nil {
				fmt.Fprintln(s.log, "accept:", err)
			}
			return
		}
		c := &conn{srv: s, s: sock, events: selectors.EVENT_READ}
		if _, err := s.sel.Register(sock, c.events, c); err != nil {
			// The select backend refuses descriptors past FD_SETSIZE.
			fmt.Fprintf(s.log, "refused %s: %v\n", peer, err)
			closeSocket(sock)
			continue
		}
		s.conns[c] = peer
		fmt.Fprintf(s.log, "connected %s\n", peer)
	}
}

// handle is a connection's callback: it sends what is pending, reads what
// arrived and echoes it (straight from the read buffer if nothing is
// pending, the rest queued), and then watches the events the connection
// needs. The read and the write are made here rather than in helpers, as
// few frames from the loop as in a hand-written epoll server: the returns
// right after a system call are where a profile of a busy server finds
// much of its user time.
func (c *conn) handle(mask selectors.Events) {
	if c.closed {
		// Closed by an earlier callback of the same Select: its
		// descriptor may already belong to a connection accepted since.
		return
	}
	s := c.srv
	if mask&selectors.EVENT_WRITE != 0 {
		if err := c.flush(); err != nil {
			s.close(c, err)
			return
		}
	}
	if mask&selectors.EVENT_READ != 0 && c.events&selectors.EVENT_READ != 0 {
		n, err := recv(c.s, s.buf)
		switch {
		case n > 0:
			data := s.buf[:n]
			if s.verbose {
				fmt.Fprintf(s.log, "%s: %d bytes %s\n", s.conns[c], n, preview(data))
			}
			if s.upper {
				upperASCII(data)
			}
			if c.pending() == 0 {
				w, err := send(c.s, data)
				if err != nil && !wouldBlock(err) {
					s.close(c, err)
					return
				}
				if w == n && c.events == selectors.EVENT_READ {
					// All echoed at once, and the connection watches for
					// input only, as it should now: what a busy server
					// does most often, and done.
					return
				}
				data = data[max(w, 0):]
			}
			c.queue(data)
		case err == nil:
			c.eof = true // the end of the stream
		case wouldBlock(err):
			// a spurious report
		default:
			s.close(c, err)
			return
		}
	}
	want := c.wanted()
	if want == 0 {
		s.close(c, nil) // end of stream, and all of it echoed
		return
	}
	if want != c.events {
		if _, err := s.sel.Modify(c.s, want, c); err != nil {
			s.close(c, err)
			return
		}
		c.events = want
	}
}

// flush sends what is pending until it is all sent or the socket is full.
func (c *conn) flush() error {
	for c.pending() > 0 {
		n, err := send(c.s, c.out[c.head:])
		if err != nil {
			if wouldBlock(err) {
				break
			}
			return err
		}
		c.head += n
	}
	if c.pending() == 0 {
		c.out, c.head = c.out[:0], 0
		if cap(c.out) > maxPending {
			c.out = nil // a burst's buffer is not kept for an idle client
		}
	}
	return nil
}

// close unregisters and closes c, and logs why: err nil is a clean end.
func (s *server) close(c *conn, err error) {
	peer := s.conns[c]
	if _, uerr := s.sel.Unregister(c.s); uerr != nil {
		fmt.Fprintf(s.log, "unregister %s: %v\n", peer, uerr)
	}
	closeSocket(c.s)
	c.closed = true
	c.out = nil
	delete(s.conns, c)
	if err != nil {
		fmt.Fprintf(s.log, "disconnected %s: %v\n", peer, err)
	} else {
		fmt.Fprintf(s.log, "disconnected %s\n", peer)
	}
}

// upperASCII upper-cases the ASCII letters of p in place; every other byte,
// UTF-8 included, stays as it is, so the reply has the request's length.
func upperASCII(p []byte) {
	for i, b := range p {
		if 'a' <= b && b <= 'z' {
			p[i] = b - ('a' - 'A')
		}
	}
}

// preview quotes the start of a message for the log.
func preview(p []byte) string {
	const most = 60
	if len(p) <= most {
		return fmt.Sprintf("%q", p)
	}
	return fmt.Sprintf("%q...", p[:most])
}
