package selectors

// Read, Write and Accept on every kind of file object, against real
// sockets and pipes: one table of kinds, the same test bodies for each.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ioEnds is a file object under test and its peer, which the test drives
// with Go's own blocking calls.
type ioEnds struct {
	obj  any
	peer peerEnd
}

type peerEnd interface {
	io.ReadWriteCloser
	SetDeadline(time.Time) error
}

// ioKind is a kind of file object Read and Write take.
type ioKind struct {
	name     string
	datagram bool // messages: no end of stream, no short write
	resets   bool // TCP: the peer can reset the connection
	// ends returns a new connected pair, closed at the end of the test.
	// toObj says which way data flows, for the kinds that go one way only
	// (pipes): from the peer to obj, or from obj to the peer.
	ends func(t *testing.T, toObj bool) ioEnds
}

// ioKinds are the kinds every platform has, then the platform's own.
func ioKinds() []ioKind {
	kinds := []ioKind{
		{name: "int", resets: true, ends: func(t *testing.T, _ bool) ioEnds {
			a, b := tcpConns(t)
			return ioEnds{rawFD(t, a), b}
		}},
		{name: "*net.TCPConn", resets: true, ends: func(t *testing.T, _ bool) ioEnds {
			a, b := tcpConns(t)
			return ioEnds{a, b}
		}},
		{name: "*net.UDPConn", datagram: true, ends: func(t *testing.T, _ bool) ioEnds {
			a, b := udpPair(t)
			return ioEnds{a, b}
		}},
		// A syscall.Conn of the user's: Control through an interface.
		{name: "syscall.Conn", resets: true, ends: func(t *testing.T, _ bool) ioEnds {
			a, b := tcpConns(t)
			return ioEnds{userConn{a}, b}
		}},
	}
	return append(kinds, platformIOKinds()...)
}

// userConn is a syscall.Conn of a type the package does not know.
type userConn struct{ c *net.TCPConn }

func (u userConn) SyscallConn() (syscall.RawConn, error) { return u.c.SyscallConn() }

// tcpConns returns the two ends of a TCP connection over 127.0.0.1.
func tcpConns(t *testing.T) (a, b *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer ln.Close()
	b, err = net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	a, err = ln.AcceptTCP()
	require.NoError(t, err)
	t.Cleanup(func() { a.Close() })
	return a, b
}

// udpPair returns a UDP socket connected to a peer whose writes go back
// to it.
func udpPair(t *testing.T) (*net.UDPConn, peerEnd) {
	t.Helper()
	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if udpUnavailable(err) {
		t.Skipf("the net package cannot open a UDP socket here: %v", err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { peer.Close() })
	a, err := net.DialUDP("udp", nil, peer.LocalAddr().(*net.UDPAddr))
	require.NoError(t, err)
	t.Cleanup(func() { a.Close() })
	return a, udpPeer{peer, a.LocalAddr()}
}

// udpPeer writes to one address.
type udpPeer struct {
	*net.UDPConn
	to net.Addr
}

func (u udpPeer) Write(p []byte) (int, error) { return u.WriteTo(p, u.to) }

// rawFD returns c's descriptor, which stays c's: the test keeps c open.
func rawFD(t testing.TB, c syscall.Conn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	require.NoError(t, err)
	fd := -1
	require.NoError(t, rc.Control(func(s uintptr) { fd = int(s) }))
	return fd
}

// forEachIOKind runs body once per kind of file object.
func forEachIOKind(t *testing.T, body func(t *testing.T, k ioKind)) {
	for _, k := range ioKinds() {
		t.Run(k.name, func(t *testing.T) { body(t, k) })
	}
}

// waitReadable waits, with a selector, until obj is ready to read, which
// a peer's write on another socket can take a moment to make it.
func waitReadable(t testing.TB, obj any) {
	t.Helper()
	waitEvent(t, obj, EVENT_READ)
}

func waitEvent(t testing.TB, obj any, event Events) {
	t.Helper()
	s, err := DefaultSelector()
	require.NoError(t, err)
	defer s.Close()
	key, err := s.Register(obj, event, nil)
	require.NoError(t, err)
	rs, err := s.Select(10 * time.Second)
	require.NoError(t, err)
	require.Len(t, rs, 1, "%T not ready for %v in 10s", obj, event)
	_, err = s.Unregister(key.FD)
	require.NoError(t, err)
}

// atOnce runs f and fails the test if it does not return within ten
// seconds: what must never park the goroutine returns at once.
func atOnce(t testing.TB, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not return in 10s: it waits for data", what)
	}
}

// requireWouldBlock checks an error of nothing to do now.
func requireWouldBlock(t testing.TB, err error) {
	t.Helper()
	require.ErrorIs(t, err, ErrWouldBlock)
	require.ErrorIs(t, err, wouldBlockErrno)
	require.ErrorIs(t, err, syscall.EAGAIN)
}

func TestReadWouldBlock(t *testing.T) {
	forEachIOKind(t, func(t *testing.T, k ioKind) {
		e := k.ends(t, true)
		buf := make([]byte, 64)
		var n int
		var err error
		atOnce(t, "Read of nothing", func() { n, err = Read(e.obj, buf) })
		assert.Zero(t, n)
		requireWouldBlock(t, err)
	})
}

func TestReadData(t *testing.T) {
	forEachIOKind(t, func(t *testing.T, k ioKind) {
		e := k.ends(t, true)
		_, err := e.peer.Write([]byte("hello"))
		require.NoError(t, err)
		waitReadable(t, e.obj)
		buf := make([]byte, 64)
		n, err := Read(e.obj, buf)
		require.NoError(t, err)
		assert.Equal(t, "hello", string(buf[:n]))
		n, err = Read(e.obj, buf)
		assert.Zero(t, n)
		requireWouldBlock(t, err)
	})
}

func TestWriteData(t *testing.T) {
	forEachIOKind(t, func(t *testing.T, k ioKind) {
		e := k.ends(t, false)
		n, err := Write(e.obj, []byte("hello"))
		require.NoError(t, err)
		require.Equal(t, 5, n)
		require.NoError(t, e.peer.SetDeadline(time.Now().Add(10*time.Second)))
		buf := make([]byte, 64)
		n, err = e.peer.Read(buf)
		require.NoError(t, err)
		assert.Equal(t, "hello", string(buf[:n]))
	})
}

// The end of a stream is 0, io.EOF, every time it is read.
func TestReadEOF(t *testing.T) {
	forEachIOKind(t, func(t *testing.T, k ioKind) {
		if k.datagram {
			t.Skip("a datagram socket has no end of stream: see TestReadEmptyDatagram")
		}
		e := k.ends(t, true)
		_, err := e.peer.Write([]byte("last"))
		require.NoError(t, err)
		require.NoError(t, e.peer.Close())
		waitReadable(t, e.obj)
		buf := make([]byte, 64)
		n, err := Read(e.obj, buf)
		require.NoError(t, err)
		assert.Equal(t, "last", string(buf[:n]))
		for range 2 {
			n, err = Read(e.obj, buf)
			assert.Zero(t, n)
			require.Equal(t, io.EOF, err, "io.EOF itself, as io.Reader's callers compare it")
		}
	})
}

// An empty datagram is a message, not the end of anything: Write sends
// one for an empty p, and Read returns 0 and no error for it.
func TestReadEmptyDatagram(t *testing.T) {
	skipIfEmptyWritesFault(t)
	forEachIOKind(t, func(t *testing.T, k ioKind) {
		if !k.datagram {
			t.Skip("a stream has no empty message")
		}
		e := k.ends(t, true)
		n, err := Write(e.obj, nil)
		require.NoError(t, err)
		require.Zero(t, n)
		require.NoError(t, e.peer.SetDeadline(time.Now().Add(10*time.Second)))
		buf := make([]byte, 64)
		n, err = e.peer.Read(buf)
		require.NoError(t, err, "the peer got the empty datagram")
		require.Zero(t, n)

		_, err = e.peer.Write(nil)
		require.NoError(t, err)
		waitReadable(t, e.obj)
		n, err = Read(e.obj, buf)
		require.NoError(t, err)
		require.Zero(t, n)
		_, err = Read(e.obj, buf)
		requireWouldBlock(t, err)
	})
}

// A reset connection's error wraps ECONNRESET.
func TestReadReset(t *testing.T) {
	forEachIOKind(t, func(t *testing.T, k ioKind) {
		if !k.resets {
			t.Skip("only TCP resets")
		}
		e := k.ends(t, true)
		resetByPeer(t, e)
		n, err := Read(e.obj, make([]byte, 64))
		assert.Zero(t, n)
		if err == io.EOF && resetReadAsEOF() {
			t.Log("the reset read as the end of the stream; a write meets it")
			n, err = Write(e.obj, []byte("x"))
			assert.Zero(t, n)
		}
		require.ErrorIs(t, err, syscall.ECONNRESET)
		require.ErrorIs(t, err, connResetErrno)
		assert.NotErrorIs(t, err, ErrWouldBlock)
		assert.NotErrorIs(t, err, ErrInvalidFileObj)
	})
}

// resetByPeer resets a TCP connection from the peer's end, and waits
// until obj's end has the reset. Unread data and SO_LINGER 0 each make a
// close a reset; Wine's closesocket heeds only the first.
func resetByPeer(t *testing.T, e ioEnds) {
	t.Helper()
	_, err := Write(e.obj, []byte("unread"))
	require.NoError(t, err)
	waitReadable(t, e.peer)
	require.NoError(t, e.peer.(*net.TCPConn).SetLinger(0))
	require.NoError(t, e.peer.Close())
	waitReadable(t, e.obj)
}

// Writes into a stream take what fits: a short write comes with an error
// wrapping ErrWouldBlock, then a full buffer takes nothing, at once. What
// the writes said they took is what the peer reads.
func TestWriteShort(t *testing.T) {
	forEachIOKind(t, func(t *testing.T, k ioKind) {
		if k.datagram {
			t.Skip("a datagram is sent whole or not at all")
		}
		e := k.ends(t, false)
		chunk := bytes.Repeat([]byte("0123456789abcdef"), writeChunk/16)
		total, shorts, full := 0, 0, false
		atOnce(t, "Write into a full buffer", func() {
			for i := 0; i < 10_000 && !full; i++ {
				n, err := Write(e.obj, chunk)
				total += n
				switch {
				case err == nil:
					require.Equal(t, len(chunk), n)
				case n == 0:
					requireWouldBlock(t, err)
					full = true
				default:
					require.Less(t, n, len(chunk))
					requireWouldBlock(t, err)
					shorts++
				}
			}
		})
		require.True(t, full, "10,000 writes of %d bytes never filled the buffer", len(chunk))
		t.Logf("%d bytes taken, %d short writes", total, shorts)

		// The peer reads exactly what was taken, in order.
		require.NoError(t, e.peer.SetDeadline(time.Now().Add(10*time.Second)))
		got := make([]byte, total)
		_, err := io.ReadFull(e.peer, got)
		require.NoError(t, err)
		for i := 0; i < total; i += len(chunk) {
			require.Equal(t, chunk[:min(len(chunk), total-i)], got[i:min(i+len(chunk), total)], "at %d", i)
		}
	})
}

// A stream that cannot take more and has data to read gives a Write
// ErrWouldBlock at once (on Windows, where a blocking send is made only
// once select finds the socket writable, this is the readable and not
// writable case, which a peek tells from a reset).
func TestWriteFullWhileReadable(t *testing.T) {
	forEachIOKind(t, func(t *testing.T, k ioKind) {
		if k.datagram || !k.resets {
			t.Skip("only TCP both reads and writes in these tests")
		}
		e := k.ends(t, true)
		fd, err := fileDescriptor(e.obj)
		require.NoError(t, err)
		fixSendBuffer(t, fd)
		_, err = e.peer.Write([]byte("to read"))
		require.NoError(t, err)
		waitReadable(t, e.obj)
		fill(t, e.obj)
		atOnce(t, "Write into a full buffer", func() {
			var n int
			n, err = Write(e.obj, []byte("more"))
			assert.Zero(t, n)
		})
		requireWouldBlock(t, err)
	})
}

// A reset connection's Write meets the reset.
func TestWriteReset(t *testing.T) {
	forEachIOKind(t, func(t *testing.T, k ioKind) {
		if !k.resets {
			t.Skip("only TCP resets")
		}
		e := k.ends(t, true)
		resetByPeer(t, e)
		var n int
		var err error
		atOnce(t, "Write to a reset connection", func() { n, err = Write(e.obj, []byte("x")) })
		assert.Zero(t, n)
		require.ErrorIs(t, err, syscall.ECONNRESET)
		require.ErrorIs(t, err, connResetErrno)
	})
}

// fill writes to obj until it takes nothing more, even after a moment in
// which the peer's acknowledgements can free some of the buffer.
func fill(t *testing.T, obj any) {
	t.Helper()
	chunk := make([]byte, 64<<10)
	for range 10_000 {
		n, err := Write(obj, chunk)
		if !errors.Is(err, ErrWouldBlock) {
			require.NoError(t, err)
		}
		if n == 0 {
			// Longer than a delayed acknowledgement (40ms on Linux).
			time.Sleep(100 * time.Millisecond)
			if n, _ := Write(obj, chunk[:1]); n == 0 {
				return
			}
		}
	}
	t.Fatal("10,000 writes did not fill the buffer")
}

// An empty p: Read refuses it, Write makes the write of nothing.
func TestEmptyBuffer(t *testing.T) {
	forEachIOKind(t, func(t *testing.T, k ioKind) {
		e := k.ends(t, true)
		_, err := e.peer.Write([]byte("x"))
		require.NoError(t, err)
		waitReadable(t, e.obj)
		for _, p := range [][]byte{nil, {}} {
			n, err := Read(e.obj, p)
			assert.Zero(t, n)
			require.ErrorIs(t, err, io.ErrShortBuffer)
			assert.ErrorContains(t, err, "empty buffer")
		}
		buf := make([]byte, 8)
		n, err := Read(e.obj, buf)
		require.NoError(t, err)
		assert.Equal(t, "x", string(buf[:n]), "the empty reads took nothing")
	})
}

// Bad file objects are errors wrapping ErrInvalidFileObj that say what
// was wrong, never a panic, and leave no descriptor open.
func TestIOInvalidFileObj(t *testing.T) {
	closedTCP, _ := tcpConns(t)
	require.NoError(t, closedTCP.Close())
	closedFile, err := os.Open(os.Args[0])
	require.NoError(t, err)
	require.NoError(t, closedFile.Close())
	before := openFDs(t)
	for _, tt := range []struct {
		obj  any
		want string
		also error
	}{
		{nil, "nil", nil},
		{(*net.TCPConn)(nil), "nil *net.TCPConn", nil},
		{(*net.UDPConn)(nil), "nil *net.UDPConn", nil},
		{(*net.UnixConn)(nil), "nil *net.UnixConn", nil},
		{(*os.File)(nil), "nil *os.File", nil},
		{&net.TCPConn{}, "*net.TCPConn", nil},
		{(*panicConn)(nil), "*selectors.panicConn", nil},
		{"7", "string has no file descriptor", nil},
		{struct{}{}, "struct {} has no file descriptor", nil},
		{-1, "out of range", nil},
		{int64(-1), "out of range", nil},
		{closedTCP, "*net.TCPConn", net.ErrClosed},
		{closedFile, "*os.File", os.ErrClosed},
	} {
		for name, call := range map[string]func(any) (int, error){
			"Read":  func(obj any) (int, error) { return Read(obj, make([]byte, 8)) },
			"Write": func(obj any) (int, error) { return Write(obj, []byte("x")) },
		} {
			n, err := call(tt.obj)
			assert.Zero(t, n)
			require.ErrorIs(t, err, ErrInvalidFileObj, "%s(%T %v)", name, tt.obj, tt.obj)
			assert.ErrorContains(t, err, tt.want, "%s(%T %v)", name, tt.obj, tt.obj)
			if tt.also != nil {
				assert.ErrorIs(t, err, tt.also, "%s(%T %v)", name, tt.obj, tt.obj)
			}
			assert.NotErrorIs(t, err, ErrWouldBlock)
		}
	}
	assert.Equal(t, before, openFDs(t), "descriptors left open")
}

// panicConn panics in SyscallConn, as a method on a nil pointer does.
type panicConn struct{ c *net.TCPConn }

func (p *panicConn) SyscallConn() (syscall.RawConn, error) { return p.c.SyscallConn() }

// A Close in another goroutine ends a loop of Reads with an error
// wrapping net.ErrClosed; under -race, the two share no memory unsafely.
func TestReadConcurrentClose(t *testing.T) {
	a, b := tcpConns(t)
	errc := make(chan error, 1)
	go func() {
		buf := make([]byte, 64)
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); {
			_, err := Read(a, buf)
			if err != nil && !errors.Is(err, ErrWouldBlock) {
				errc <- err
				return
			}
		}
		errc <- errors.New("no error in 10s of Reads")
	}()
	for range 3 {
		_, err := b.Write([]byte("data"))
		require.NoError(t, err)
		time.Sleep(time.Millisecond)
	}
	require.NoError(t, a.Close())
	err := <-errc
	require.ErrorIs(t, err, net.ErrClosed)
	require.ErrorIs(t, err, ErrInvalidFileObj)
}

// A closed connection's descriptor number, reused by the next socket the
// process opens, is never read through the closed connection.
func TestReadClosedConnReusedNumber(t *testing.T) {
	a, _ := tcpConns(t)
	fd := rawFD(t, a)
	require.NoError(t, a.Close())
	c, d := tcpConns(t)
	reused := rawFD(t, c) == fd || rawFD(t, d) == fd
	_, err := c.Write([]byte("not a's"))
	require.NoError(t, err)
	waitReadable(t, d)
	for range 2 {
		_, err = Read(a, make([]byte, 64))
		require.ErrorIs(t, err, net.ErrClosed)
	}
	buf := make([]byte, 64)
	n, err := Read(d, buf)
	require.NoError(t, err)
	assert.Equal(t, "not a's", string(buf[:n]))
	t.Logf("descriptor number %d reused: %v", fd, reused)
}

// A steady loop of Read and Write allocates nothing with a descriptor and
// at most the RawConn with a syscall.Conn; the would-block path allocates
// nothing at all for the types the package knows.
func TestIOAllocations(t *testing.T) {
	forEachIOKind(t, func(t *testing.T, k ioKind) {
		w, r := k.ends(t, false), k.ends(t, true)
		buf := make([]byte, 64)
		msg := []byte("x")
		limit := 1.0
		switch w.obj.(type) {
		case int, uintptr:
			limit = 0
		}
		allocs := testing.AllocsPerRun(100, func() {
			if n, err := Write(w.obj, msg); n != 1 || err != nil {
				panic(fmt.Sprint("Write: ", n, err))
			}
		})
		t.Logf("Write: %v allocations", allocs)
		assert.LessOrEqual(t, allocs, limit, "Write")

		allocs = testing.AllocsPerRun(100, func() {
			if _, err := Read(r.obj, buf); !errors.Is(err, ErrWouldBlock) {
				panic(fmt.Sprint("Read: ", err))
			}
		})
		t.Logf("Read that would block: %v allocations", allocs)
		assert.LessOrEqual(t, allocs, limit, "Read that would block")
		if _, user := r.obj.(userConn); !user {
			assert.Zero(t, allocs, "Read that would block")
		}
	})
}

// listenerKind is a kind of listener Accept takes.
type listenerKind struct {
	name string
	// listen returns a new listener, closed at the end of the test, and
	// a function that dials it.
	listen func(t *testing.T) (net.Listener, func() (net.Conn, error))
}

func listenerKinds() []listenerKind {
	return append([]listenerKind{{"tcp", func(t *testing.T) (net.Listener, func() (net.Conn, error)) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		t.Cleanup(func() { ln.Close() })
		return ln, func() (net.Conn, error) { return net.Dial("tcp", ln.Addr().String()) }
	}}}, platformListenerKinds()...)
}

func forEachListenerKind(t *testing.T, body func(t *testing.T, k listenerKind)) {
	for _, k := range listenerKinds() {
		t.Run(k.name, func(t *testing.T) { body(t, k) })
	}
}

// dialed dials with dial and closes the connection at the end of the
// test.
func dialed(t *testing.T, dial func() (net.Conn, error)) net.Conn {
	t.Helper()
	c, err := dial()
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// With nothing pending, Accept returns at once: a nil net.Conn and an
// error wrapping ErrWouldBlock.
func TestAcceptNothingPending(t *testing.T) {
	forEachListenerKind(t, func(t *testing.T, k listenerKind) {
		ln, _ := k.listen(t)
		var c net.Conn
		var err error
		atOnce(t, "Accept with nothing pending", func() { c, err = Accept(ln) })
		require.True(t, c == nil, "a nil net.Conn, not a typed nil: %#v", c)
		requireWouldBlock(t, err)
	})
}

// A pending connection comes out as the type the listener's own Accept
// returns, usable with Go's own Read, Write and deadlines and with a
// selector; then Accept would block again.
func TestAcceptPending(t *testing.T) {
	forEachListenerKind(t, func(t *testing.T, k listenerKind) {
		ln, dial := k.listen(t)
		before := openFDs(t)
		peer := dialed(t, dial)
		waitReadable(t, ln)
		c, err := Accept(ln)
		require.NoError(t, err)
		switch ln.(type) {
		case *net.TCPListener:
			require.IsType(t, &net.TCPConn{}, c)
			assert.Equal(t, peer.LocalAddr().String(), c.RemoteAddr().String())
		case *net.UnixListener:
			require.IsType(t, &net.UnixConn{}, c)
		}
		assert.Equal(t, peer.RemoteAddr().String(), c.LocalAddr().String())
		func() {
			other := dialed(t, dial)
			defer other.Close()
			own, err := ln.Accept()
			require.NoError(t, err)
			defer own.Close()
			checkAcceptedLikeGo(t, ln, c, own)
		}()

		// Go's own Read and Write, with deadlines: the runtime's poller
		// has the connection.
		require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
		require.NoError(t, peer.SetDeadline(time.Now().Add(10*time.Second)))
		_, err = peer.Write([]byte("ping"))
		require.NoError(t, err)
		buf := make([]byte, 4)
		_, err = io.ReadFull(c, buf)
		require.NoError(t, err)
		assert.Equal(t, "ping", string(buf))
		_, err = c.Write([]byte("pong"))
		require.NoError(t, err)
		_, err = io.ReadFull(peer, buf)
		require.NoError(t, err)
		assert.Equal(t, "pong", string(buf))
		require.NoError(t, c.SetReadDeadline(time.Now().Add(time.Millisecond)))
		_, err = c.Read(buf)
		require.ErrorIs(t, err, os.ErrDeadlineExceeded, "a read deadline works")
		require.NoError(t, c.SetDeadline(time.Time{}))

		// And the selector and this package's Read.
		_, err = peer.Write([]byte("sel"))
		require.NoError(t, err)
		waitReadable(t, c)
		n, err := Read(c, buf)
		require.NoError(t, err)
		assert.Equal(t, "sel", string(buf[:n]))

		_, err = Accept(ln)
		requireWouldBlock(t, err)
		require.NoError(t, c.Close())
		require.NoError(t, peer.Close())
		assert.Equal(t, before, openFDs(t), "descriptors left open")
	})
}

// Several pending connections come out one per Accept, in order.
func TestAcceptSeveral(t *testing.T) {
	forEachListenerKind(t, func(t *testing.T, k listenerKind) {
		ln, dial := k.listen(t)
		const n = 3
		for i := range n {
			peer := dialed(t, dial)
			_, err := peer.Write([]byte{byte('a' + i)})
			require.NoError(t, err)
		}
		for i := range n {
			waitReadable(t, ln)
			c, err := Accept(ln)
			require.NoError(t, err, "connection %d", i)
			defer c.Close()
			waitReadable(t, c)
			buf := make([]byte, 1)
			_, err = Read(c, buf)
			require.NoError(t, err)
			assert.Equal(t, string(rune('a'+i)), string(buf), "connection %d", i)
		}
		_, err := Accept(ln)
		requireWouldBlock(t, err)
	})
}

// A connection reset while it waits in the listen queue never makes
// Accept wait for the next one: it comes out, to fail at its first read,
// or is skipped and Accept would block.
func TestAcceptResetBeforeAccept(t *testing.T) {
	ln, dial := listenerKinds()[0].listen(t)
	peer := dialed(t, dial)
	waitReadable(t, ln)
	require.NoError(t, peer.(*net.TCPConn).SetLinger(0))
	require.NoError(t, peer.Close())
	time.Sleep(50 * time.Millisecond) // for the reset to reach the queue
	var c net.Conn
	var err error
	atOnce(t, "Accept of a reset connection", func() { c, err = Accept(ln) })
	if err != nil {
		requireWouldBlock(t, err)
		return
	}
	defer c.Close()
	waitReadable(t, c)
	_, err = Read(c, make([]byte, 8))
	require.Error(t, err)
	assert.True(t, err == io.EOF || errors.Is(err, syscall.ECONNRESET), "%v", err)
}

// Bad listeners are errors wrapping ErrInvalidFileObj that say what was
// wrong, never a panic, and leave no descriptor open.
func TestAcceptInvalidListener(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, closed.Close())
	before := openFDs(t)
	for _, tt := range []struct {
		ln   net.Listener
		want string
		also error
	}{
		{nil, "nil listener", nil},
		{(*net.TCPListener)(nil), "nil *net.TCPListener", nil},
		{(*net.UnixListener)(nil), "nil *net.UnixListener", nil},
		{userListener{}, "selectors.userListener is not a *net.TCPListener or *net.UnixListener", nil},
		{closed, "*net.TCPListener", net.ErrClosed},
	} {
		c, err := Accept(tt.ln)
		assert.True(t, c == nil, "%T: a nil net.Conn: %#v", tt.ln, c)
		require.ErrorIs(t, err, ErrInvalidFileObj, "%T", tt.ln)
		assert.ErrorContains(t, err, tt.want)
		if tt.also != nil {
			assert.ErrorIs(t, err, tt.also)
		}
	}
	assert.Equal(t, before, openFDs(t), "descriptors left open")
}

// userListener is a net.Listener of a type Accept does not take.
type userListener struct{}

func (userListener) Accept() (net.Conn, error) { return nil, errors.New("never") }
func (userListener) Close() error              { return nil }
func (userListener) Addr() net.Addr            { return &net.TCPAddr{} }

// datagramKind is a kind of datagram socket for ReadFrom and WriteTo.
type datagramKind struct {
	name string
	// pair returns two unconnected sockets as file objects, and each
	// one's address, closed at the end of the test.
	pair func(t *testing.T) (a, b any, aAddr, bAddr net.Addr)
}

func datagramKinds() []datagramKind {
	return append([]datagramKind{
		{"*net.UDPConn", func(t *testing.T) (any, any, net.Addr, net.Addr) {
			a, b := listenUDP(t, "127.0.0.1:0"), listenUDP(t, "127.0.0.1:0")
			return a, b, a.LocalAddr(), b.LocalAddr()
		}},
		// An IPv6 socket that also takes IPv4 sends to an IPv4 address
		// as an IPv4-mapped one.
		{"dual-stack *net.UDPConn", func(t *testing.T) (any, any, net.Addr, net.Addr) {
			a, b := listenUDP(t, ":0"), listenUDP(t, "127.0.0.1:0")
			aAddr := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: a.LocalAddr().(*net.UDPAddr).Port}
			return a, b, aAddr, b.LocalAddr()
		}},
	}, platformDatagramKinds()...)
}

// listenUDP returns a UDP socket bound to addr, closed at the end of the
// test.
func listenUDP(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenPacket("udp", addr)
	if udpUnavailable(err) {
		t.Skipf("the net package cannot open a UDP socket here: %v", err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c.(*net.UDPConn)
}

func forEachDatagramKind(t *testing.T, body func(t *testing.T, k datagramKind)) {
	for _, k := range datagramKinds() {
		t.Run(k.name, func(t *testing.T) { body(t, k) })
	}
}

// WriteTo sends a datagram to an address, and ReadFrom gives it with its
// sender's address; with nothing there, ReadFrom returns at once.
func TestWriteToReadFrom(t *testing.T) {
	forEachDatagramKind(t, func(t *testing.T, k datagramKind) {
		a, b, aAddr, bAddr := k.pair(t)
		buf := make([]byte, 64)
		var n int
		var from net.Addr
		var err error
		atOnce(t, "ReadFrom of nothing", func() { n, from, err = ReadFrom(b, buf) })
		assert.Zero(t, n)
		assert.Nil(t, from)
		requireWouldBlock(t, err)

		n, err = WriteTo(a, []byte("hello"), bAddr)
		require.NoError(t, err)
		require.Equal(t, 5, n)
		waitReadable(t, b)
		n, from, err = ReadFrom(b, buf)
		require.NoError(t, err)
		assert.Equal(t, "hello", string(buf[:n]))
		require.NotNil(t, from)
		assert.Equal(t, aAddr.String(), from.String())

		// And back, to the address ReadFrom gave.
		_, err = WriteTo(b, []byte("back"), from)
		require.NoError(t, err)
		waitReadable(t, a)
		n, from, err = ReadFrom(a, buf)
		require.NoError(t, err)
		assert.Equal(t, "back", string(buf[:n]))
		assert.Equal(t, bAddr.String(), from.String())
	})
}

// A datagram longer than the buffer fills it and the rest is lost, as
// recvfrom(2) does, on Windows too; an empty datagram is a message.
func TestReadFromTruncatedAndEmpty(t *testing.T) {
	skipIfEmptyWritesFault(t)
	forEachDatagramKind(t, func(t *testing.T, k datagramKind) {
		a, b, _, bAddr := k.pair(t)
		_, err := WriteTo(a, bytes.Repeat([]byte("x"), 100), bAddr)
		require.NoError(t, err)
		waitReadable(t, b)
		buf := make([]byte, 10)
		n, _, err := ReadFrom(b, buf)
		require.NoError(t, err)
		assert.Equal(t, 10, n)
		_, _, err = ReadFrom(b, buf)
		requireWouldBlock(t, err)

		n, err = WriteTo(a, nil, bAddr)
		require.NoError(t, err)
		assert.Zero(t, n)
		waitReadable(t, b)
		n, from, err := ReadFrom(b, buf)
		require.NoError(t, err, "an empty datagram is not the end of anything")
		assert.Zero(t, n)
		assert.NotNil(t, from)
	})
}

// An address WriteTo cannot send to is an error wrapping a
// *net.AddrError that says why, and nothing is sent.
func TestWriteToBadAddress(t *testing.T) {
	forEachDatagramKind(t, func(t *testing.T, k datagramKind) {
		a, b, _, _ := k.pair(t)
		for _, tt := range []struct {
			addr net.Addr
			want string
		}{
			{nil, "missing address"},
			{(*net.UDPAddr)(nil), "missing address"},
			{(*net.UnixAddr)(nil), "missing address"},
			{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}, "not a *net.UDPAddr or *net.UnixAddr"},
		} {
			n, err := WriteTo(a, []byte("x"), tt.addr)
			assert.Zero(t, n)
			var addrErr *net.AddrError
			require.ErrorAs(t, err, &addrErr, "%T", tt.addr)
			assert.ErrorContains(t, err, tt.want)
		}
		_, _, err := ReadFrom(b, make([]byte, 8))
		requireWouldBlock(t, err)
	})
}

// ReadFrom on a stream is Read: the data, then io.EOF.
func TestReadFromStream(t *testing.T) {
	a, b := tcpConns(t)
	_, err := b.Write([]byte("data"))
	require.NoError(t, err)
	require.NoError(t, b.Close())
	waitReadable(t, a)
	buf := make([]byte, 64)
	n, _, err := ReadFrom(a, buf)
	require.NoError(t, err)
	assert.Equal(t, "data", string(buf[:n]))
	n, from, err := ReadFrom(a, buf)
	assert.Zero(t, n)
	assert.Nil(t, from)
	require.Equal(t, io.EOF, err)
}

// skipIfEmptyWritesFault skips t where the system refuses to send an
// empty datagram to an address with EFAULT, as QEMU 10's user-mode
// emulation of i386 does (sendto with a length of 0): there the net
// package's own WriteTo of an empty datagram fails too, so no test of
// empty datagrams can make one.
func skipIfEmptyWritesFault(t *testing.T) {
	t.Helper()
	a, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return // no UDP from the net package here (Wine): the tests say so
	}
	defer a.Close()
	if _, err := a.WriteTo(nil, a.LocalAddr()); errors.Is(err, syscall.EFAULT) {
		t.Skipf("the net package's own empty datagram fails here: %v", err)
	}
}
