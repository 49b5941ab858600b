// Command echo-server is the echo server of the Python articles on
// selectors, in Go: one goroutine runs one selector loop, and every
// registered socket carries its callback in its key's Data, which the loop
// calls with the ready events, as the articles' loop calls key.data:
//
//	for _, r := range ready {
//		callback := r.Key.Data.(func(selectors.Events))
//		callback(r.Mask)
//	}
//
// It accepts, reads and writes with selectors.Accept, selectors.Read and
// selectors.Write on Go's own *net.TCPListener and *net.TCPConn. They never
// wait: conn.Read and conn.Write would park the loop's goroutine, and every
// other client with it.
//
// A client that half-closes still gets its whole echo; one that resets is
// dropped without disturbing the others. The server also does what one in
// the field needs and the articles leave out:
//
//   - Bounded memory. An echo that the socket does not take at once is
//     queued, and the connection then watches EVENT_WRITE instead of
//     EVENT_READ until the queue is sent: a client that sends and never
//     reads costs one read's echo (64 KiB) at most. The queues of all
//     connections together hold at most -max-buffered: when that is used
//     up, connections wait to be read until a queue drains or its client
//     leaves. A queue is let go as soon as it is sent.
//   - Idle connections are closed after -idle. Each connection has a timer,
//     due when it would have been idle that long, kept in a heap; the
//     timeout of each Select is the time left until the first timer: the
//     timers of an event loop. An event only records its time: a timer
//     that comes due for a connection active since is set again for the
//     moment it will have been idle that long, as Netty's IdleStateHandler
//     does, so that the loop moves a timer once per -idle at most, not at
//     every event.
//   - A log that never blocks. Lines are written to stdout by a goroutine
//     of their own from a bounded queue: a reader of stdout that stops
//     reading never stalls the loop. When the queue is full, lines are
//     dropped and counted, and the count is logged once there is room. A
//     closed stdout only ends the log: SIGPIPE is ignored.
//   - SIGINT or SIGTERM closes every connection and the selector, and the
//     server exits 0.
//
// Usage:
//
//	echo-server [-addr 127.0.0.1:8088] [-upper] [-v] [-idle 5m]
//	            [-max-buffered 65536] [-selector default]
//
// Its first line on stdout is "listening on <host:port> (<backend>)"; then
// one line per connect and disconnect, and with -v one per message.
package main

import (
	"container/heap"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/seed08bc25bd/selectors"
)

const (
	readSize    = 64 << 10 // one read: every connection reads into the loop's one buffer
	acceptBurst = 64       // accepts per readiness, so that connections get their turn
	acceptPause = 100 * time.Millisecond
)

type server struct {
	sel     selectors.Selector
	ln      *net.TCPListener
	upper   bool
	verbose bool
	log     *logger
	buf     []byte // the read buffer of every connection: only the loop uses it

	started     time.Time
	now         time.Duration // when the last Select returned, since started
	idleTimeout time.Duration // 0: none
	conns       timers        // every open *conn, by when its timer is due

	maxBuffered int     // what the queues of all connections may hold together
	buffered    int     // what they hold
	waiting     []*conn // connections to read once the queues have room, in turn

	acceptAt time.Duration // when to watch the listener again after an error; 0 while watched

	// stop is the signal that ends the loop, stored by the goroutine that
	// receives it before it wakes the loop.
	stop atomic.Pointer[os.Signal]
}

// conn is one client. It either reads (its queue is empty) or sends its
// queue (out[sent:]), never both, and it is registered for that event
// alone; or, while the queues of all connections are full, for none.
type conn struct {
	srv        *server
	nc         *net.TCPConn
	callback   func(selectors.Events) // nc's Data in the selector: handle
	events     selectors.Events       // as registered
	out        []byte                 // the queued echo, freed once sent
	sent       int
	eof        bool          // the client has sent all it will: close once out is sent
	lastActive time.Duration // since srv.started
	checkAt    time.Duration // when its timer is due, since srv.started
	index      int           // in srv.conns
}

func main() {
	os.Exit(run())
}

func run() int {
	addr := flag.String("addr", "127.0.0.1:8088", "listen on `host:port` (port 0 picks a free port)")
	upper := flag.Bool("upper", false, "reply in ASCII upper case")
	verbose := flag.Bool("v", false, "log every message")
	idle := flag.Duration("idle", 5*time.Minute, "close a connection idle this long (0: never)")
	maxBuffered := flag.Int("max-buffered", 64<<10, "the `KiB` that the queued echoes of all connections may hold (64 at least)")
	backend := flag.String("selector", "default",
		"selector `backend`: default, or one this platform has: "+strings.Join(selectors.Backends(), ", "))
	flag.Parse()
	if flag.NArg() > 0 || *idle < 0 || *maxBuffered < readSize>>10 {
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

	l, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo-server:", err)
		return 1
	}
	ln := l.(*net.TCPListener)
	defer ln.Close()

	// A write to a closed stdout fails with EPIPE instead of killing the
	// process, which Go does for stdout and stderr unless told otherwise.
	signal.Ignore(syscall.SIGPIPE)
	log := newLogger(os.Stdout, 1024)
	defer log.Close(time.Second)

	s := &server{
		sel:         sel,
		ln:          ln,
		upper:       *upper,
		verbose:     *verbose,
		log:         log,
		buf:         make([]byte, readSize),
		started:     time.Now(),
		idleTimeout: *idle,
		maxBuffered: *maxBuffered << 10,
	}
	if _, err := sel.Register(ln, selectors.EVENT_READ, s.accept); err != nil {
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
	s.log.Printf("listening on %s (%s)", ln.Addr(), selectors.BackendName(sel))

	err = s.loop()
	s.shutdown()
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo-server:", err)
		return 1
	}
	return 0
}

// loop runs the callbacks of what is ready, and then the timers, until a
// signal is stored in s.stop or Select fails.
func (s *server) loop() error {
	ready := make([]selectors.Ready, 0, 64)
	for {
		var err error
		ready, err = s.sel.SelectInto(ready[:0], s.timeout())
		if err != nil {
			return err
		}
		// One reading of the clock serves the whole round, as in libuv:
		// the time since the start on the monotonic clock, which a change
		// of the system's time does not move.
		s.now = time.Since(s.started)
		for _, r := range ready {
			callback := r.Key.Data.(func(selectors.Events))
			callback(r.Mask)
		}
		if sig := s.stop.Load(); sig != nil {
			s.log.Printf("%v: shutting down", *sig)
			return nil
		}
		s.closeIdle()
		s.readWaiting()
		if s.acceptAt != 0 && s.now >= s.acceptAt {
			s.acceptAt = 0
			if _, err := s.sel.Register(s.ln, selectors.EVENT_READ, s.accept); err != nil {
				return err
			}
		}
	}
}

// timeout is how long the next Select may wait: until the first timer of
// a connection is due, or until accepts resume, whichever comes first;
// -1, no limit, if neither is due.
func (s *server) timeout() time.Duration {
	next := time.Duration(-1)
	if len(s.conns) > 0 && s.idleTimeout > 0 {
		next = s.conns[0].checkAt
	}
	if s.acceptAt != 0 && (next < 0 || s.acceptAt < next) {
		next = s.acceptAt
	}
	if next < 0 {
		return -1
	}
	// s.now is from before this round's callbacks: the wait ends a little
	// after next, never before it.
	return max(0, next-s.now)
}

// closeIdle closes the connections whose timers are due and that have been
// idle for s.idleTimeout; a connection active since has its timer set
// again, for when it will have been idle that long.
func (s *server) closeIdle() {
	for s.idleTimeout > 0 && len(s.conns) > 0 && s.conns[0].checkAt <= s.now {
		c := s.conns[0]
		if due := c.lastActive + s.idleTimeout; due > s.now {
			c.checkAt = due
			heap.Fix(&s.conns, 0)
			continue
		}
		s.close(c, fmt.Errorf("idle for %v", s.idleTimeout))
	}
}

// readWaiting registers the connections waiting to be read, in turn, while
// the queues have room for what each may have to queue.
func (s *server) readWaiting() {
	if len(s.waiting) == 0 {
		return
	}
	for len(s.waiting) > 0 && s.buffered+readSize <= s.maxBuffered {
		c := s.waiting[0]
		s.waiting = slices.Delete(s.waiting, 0, 1)
		c.touch() // waiting for the others was not its idleness
		c.watch()
	}
	if len(s.waiting) == 0 {
		s.log.Printf("memory: the queues have room again")
	}
}

// shutdown closes every connection, the listener and the selector.
func (s *server) shutdown() {
	for len(s.conns) > 0 {
		s.close(s.conns[0], errors.New("server shutting down"))
	}
	s.ln.Close()
	s.sel.Close()
}

// accept is the listener's callback: it takes the connections waiting, a
// burst at most.
func (s *server) accept(selectors.Events) {
	for range acceptBurst {
		nc, err := selectors.Accept(s.ln)
		if errors.Is(err, selectors.ErrWouldBlock) {
			return // all taken, or a spurious report
		}
		if err != nil {
			// Out of descriptors, most likely: the listener stays ready,
			// so stop watching it for a while instead of spinning.
			s.log.Printf("accept: %v (pausing accepts for %v)", err, acceptPause)
			s.acceptAt = s.now + acceptPause
			if _, err := s.sel.Unregister(s.ln); err != nil {
				s.log.Printf("accept: %v", err)
			}
			return
		}
		c := &conn{srv: s, nc: nc.(*net.TCPConn), lastActive: s.now, checkAt: s.now + s.idleTimeout}
		c.callback = c.handle
		heap.Push(&s.conns, c)
		s.log.Printf("connected %s", c.nc.RemoteAddr())
		c.watch()
	}
}

// handle is a connection's callback: it sends what is queued, or reads
// what arrived and echoes it, queueing what the socket does not take.
func (c *conn) handle(mask selectors.Events) {
	s := c.srv
	c.touch()
	if mask&selectors.EVENT_WRITE != 0 {
		n, err := selectors.Write(c.nc, c.out[c.sent:])
		if c.sent += n; c.sent == len(c.out) {
			s.buffered -= len(c.out)
			c.out, c.sent = nil, 0
		}
		if err != nil && !errors.Is(err, selectors.ErrWouldBlock) {
			s.close(c, err)
			return
		}
	}
	if mask&selectors.EVENT_READ != 0 {
		n, err := selectors.Read(c.nc, s.buf)
		switch {
		case err == io.EOF:
			c.eof = true
		case errors.Is(err, selectors.ErrWouldBlock):
			// nothing there after all: a spurious report
		case err != nil:
			s.close(c, err)
			return
		default:
			echo := s.buf[:n]
			if s.verbose {
				s.log.Printf("%s: %d bytes %s", c.nc.RemoteAddr(), n, preview(echo))
			}
			if s.upper {
				upperASCII(echo)
			}
			sent, err := selectors.Write(c.nc, echo)
			if err != nil && !errors.Is(err, selectors.ErrWouldBlock) {
				s.close(c, err)
				return
			}
			if sent < n {
				c.queue(echo[sent:])
			}
		}
	}
	c.watch()
}

// queue keeps p, the part of an echo that the socket did not take, to be
// sent when it is writable.
func (c *conn) queue(p []byte) {
	c.out = append([]byte(nil), p...)
	c.srv.buffered += len(c.out)
}

// watch registers c for what it needs now: EVENT_WRITE while its queue is
// not empty, else EVENT_READ if the queues have room for one more read's
// echo, else nothing until they have. A client that has sent all it will
// and got it all back is closed.
func (c *conn) watch() {
	s := c.srv
	var want selectors.Events
	switch {
	case len(c.out) > 0:
		want = selectors.EVENT_WRITE
	case c.eof:
		s.close(c, nil)
		return
	case s.buffered+readSize <= s.maxBuffered:
		want = selectors.EVENT_READ
	default:
		s.wait(c)
		return
	}
	if want == c.events {
		return
	}
	var err error
	if c.events == 0 { // a new connection
		_, err = s.sel.Register(c.nc, want, c.callback)
	} else {
		_, err = s.sel.Modify(c.nc, want, c.callback)
	}
	if err != nil {
		// The select backend refuses descriptors past FD_SETSIZE.
		c.events = 0 // a refused Register or Modify leaves nothing registered
		s.close(c, err)
		return
	}
	c.events = want
}

// wait unregisters c, to be read again once the queues have room (see
// readWaiting).
func (s *server) wait(c *conn) {
	if len(s.waiting) == 0 {
		s.log.Printf("memory: the queues hold %d of %d KiB: connections wait to be read",
			s.buffered>>10, s.maxBuffered>>10)
	}
	s.waiting = append(s.waiting, c)
	if c.events != 0 {
		c.events = 0
		if _, err := s.sel.Unregister(c.nc); err != nil {
			s.close(c, err)
		}
	}
}

// touch records activity on c, for its timer to find when it is due.
func (c *conn) touch() {
	c.lastActive = c.srv.now
}

// close unregisters and closes c, frees its queue and logs why: err nil
// is a clean end.
func (s *server) close(c *conn, err error) {
	peer := c.nc.RemoteAddr()
	if c.events != 0 {
		if _, uerr := s.sel.Unregister(c.nc); uerr != nil {
			s.log.Printf("unregister %s: %v", peer, uerr)
		}
	} else if i := slices.Index(s.waiting, c); i >= 0 {
		s.waiting = slices.Delete(s.waiting, i, i+1)
	}
	c.nc.Close()
	s.buffered -= len(c.out)
	c.out = nil
	heap.Remove(&s.conns, c.index)
	if err != nil {
		s.log.Printf("disconnected %s: %v", peer, err)
	} else {
		s.log.Printf("disconnected %s", peer)
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

// timers is a heap of connections, the first the one whose timer is due
// first, for container/heap.
type timers []*conn

func (t timers) Len() int           { return len(t) }
func (t timers) Less(i, j int) bool { return t[i].checkAt < t[j].checkAt }

func (t timers) Swap(i, j int) {
	t[i], t[j] = t[j], t[i]
	t[i].index, t[j].index = i, j
}

func (t *timers) Push(x any) {
	c := x.(*conn)
	c.index = len(*t)
	*t = append(*t, c)
}

func (t *timers) Pop() any {
	old := *t
	c := old[len(old)-1]
	old[len(old)-1] = nil // the heap keeps no closed connection
	*t = old[:len(old)-1]
	c.index = -1
	return c
}
